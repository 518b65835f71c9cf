// Package wavtest reads the WAV files the project writes, for tests: a
// strict RIFF/WAVE PCM 16-bit mono reader that fails the test on anything
// a standard reader would refuse.
package wavtest

import (
	"encoding/binary"
	"os"
	"testing"
)

// Read returns the samples and rate of a mono 16-bit PCM WAV file.
func Read(t testing.TB, path string) ([]int16, int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, msg := Parse(raw)
	if msg != "" {
		t.Fatalf("%s: %s", path, msg)
	}
	return pcm, rate
}

// Parse decodes a WAV file's bytes; msg says what is wrong, "" if nothing.
func Parse(raw []byte) (pcm []int16, rate int, msg string) {
	if len(raw) < 12 || string(raw[0:4]) != "RIFF" || string(raw[8:12]) != "WAVE" {
		return nil, 0, "not a RIFF/WAVE file"
	}
	if int(binary.LittleEndian.Uint32(raw[4:8]))+8 > len(raw) {
		return nil, 0, "RIFF size beyond the end of the file"
	}
	var fmtOK bool
	for off := 12; off+8 <= len(raw); {
		id, size := string(raw[off:off+4]), int(binary.LittleEndian.Uint32(raw[off+4:off+8]))
		body := off + 8
		if body+size > len(raw) {
			return nil, 0, "chunk " + id + " runs past the end of the file"
		}
		switch id {
		case "fmt ":
			if size < 16 || binary.LittleEndian.Uint16(raw[body:]) != 1 || binary.LittleEndian.Uint16(raw[body+2:]) != 1 ||
				binary.LittleEndian.Uint16(raw[body+14:]) != 16 {
				return nil, 0, "not mono 16-bit PCM"
			}
			rate = int(binary.LittleEndian.Uint32(raw[body+4:]))
			fmtOK = true
		case "data":
			if !fmtOK {
				return nil, 0, "data before fmt"
			}
			pcm = make([]int16, size/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(raw[body+2*i:]))
			}
			return pcm, rate, ""
		}
		off = body + size + size%2
	}
	return nil, 0, "no data chunk"
}
