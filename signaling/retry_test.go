package signaling

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestBackoffIsFullJitterUnderTheCap(t *testing.T) {
	p := RetryPolicy{}.withDefaults()
	for retry, ceiling := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond,
		3: 800 * time.Millisecond, 5: 3 * time.Second, 40: 3 * time.Second} {
		for range 200 {
			if d := p.backoff(retry); d < 0 || d >= ceiling {
				t.Fatalf("backoff(%d) = %v, want in [0, %v)", retry, d, ceiling)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSleepWithinRefusesAWaitPastTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := sleepWithin(ctx, time.Second); !errors.Is(err, errNoTimeLeft) {
		t.Errorf("err = %v, want errNoTimeLeft", err)
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Error("sleepWithin waited before refusing")
	}
	if err := sleepWithin(ctx, 10*time.Millisecond); err != nil {
		t.Errorf("a wait inside the deadline: %v", err)
	}
}

func TestRetryableStatuses(t *testing.T) {
	for code, want := range map[int]bool{400: false, 401: false, 403: false, 404: false, 409: false,
		429: true, 500: true, 502: true, 503: true, 504: true} {
		if retryable(code) != want {
			t.Errorf("retryable(%d) = %v", code, !want)
		}
	}
}
