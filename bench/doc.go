// Package bench holds the project's benchmarks of the audio path, each
// measured against the libopus decode floor in the same run:
//
//	go test -tags nolibopusfile -run '^$' -bench . -benchmem ./bench/
package bench
