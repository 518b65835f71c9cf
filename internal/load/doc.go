// Package load measures how loaded a bot instance is and decides whether
// it can take one more call. The measurements (idle CPU share, this
// process's CPU per stream, scheduling delay, late frames, the media
// readers' busy share) come from the machine and from a Source; the
// decisions are functions over those numbers, so they are tested with
// tables and no bot.
package load
