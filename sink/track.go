package sink

import (
	"errors"
	"fmt"
	"path/filepath"
)

// track is one speaker's audio files in a call: a WAV of decoded frames,
// an Ogg Opus recording of packets as received, or both (made when the
// first frame or packet comes), named after the participant, or ssrc-{n}
// until a roster names the stream.
type track struct {
	name string
	wav  *WAVWriter
	opus *opusRecording
}

// wavWriter is the track's WAV, created in the call's folder on first use.
func (t *track) wavWriter(c *fileCall) (*WAVWriter, error) {
	if t.wav != nil {
		return t.wav, nil
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	w, err := CreateWAV(filepath.Join(c.dir, safeName(t.name)+".wav"), c.rate)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", c.id, err)
	}
	t.wav = w
	return w, nil
}

// opusRecording is the track's Ogg Opus recording, created on first use.
func (t *track) opusRecording(c *fileCall) (*opusRecording, error) {
	if t.opus != nil {
		return t.opus, nil
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	r, err := createOpusRecording(filepath.Join(c.dir, safeName(t.name)+".opus"),
		"MEDIABOT_CALL_ID="+c.id, "MEDIABOT_PARTICIPANT_ID="+t.name)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", c.id, err)
	}
	t.opus = r
	return r, nil
}

// rename names the track, and its files, after name.
func (t *track) rename(dir, name string) error {
	t.name = name
	var errs []error
	if t.wav != nil {
		errs = append(errs, t.wav.Rename(filepath.Join(dir, safeName(name)+".wav")))
	}
	if t.opus != nil {
		errs = append(errs, t.opus.rename(filepath.Join(dir, safeName(name)+".opus")))
	}
	return errors.Join(errs...)
}

// refresh makes what the track's files hold readable after a crash.
func (t *track) refresh() error {
	var errs []error
	if t.wav != nil {
		errs = append(errs, t.wav.refreshHeader())
	}
	if t.opus != nil {
		errs = append(errs, t.opus.flush())
	}
	return errors.Join(errs...)
}

// close finishes the track's files.
func (t *track) close() error {
	var errs []error
	if t.wav != nil {
		errs = append(errs, t.wav.Close())
	}
	if t.opus != nil {
		errs = append(errs, t.opus.close())
	}
	return errors.Join(errs...)
}
