package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

func TestLogFormats(t *testing.T) {
	for _, tc := range []struct {
		format   config.LogFormat
		journald bool
		want     []string
		not      string
	}{
		{config.LogText, false, []string{"time=", `level=INFO msg=ready dc=x`}, ""},
		{config.LogText, true, []string{`level=INFO msg=ready dc=x`}, "time="},
		{config.LogJSON, false, []string{`"time":`, `"level":"INFO","msg":"ready","dc":"x"}`}, ""},
		{config.LogJSON, true, []string{`{"level":"INFO","msg":"ready","dc":"x"}`}, `"time"`},
	} {
		var b strings.Builder
		newLogger(&b, tc.format, slog.LevelInfo, tc.journald).Info("ready", "dc", "x")
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s journald=%v: %q lacks %q", tc.format, tc.journald, b.String(), w)
			}
		}
		if tc.not != "" && strings.Contains(b.String(), tc.not) {
			t.Errorf("%s journald=%v: %q has %q", tc.format, tc.journald, b.String(), tc.not)
		}
	}
}

func TestUnderJournald(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", "")
	if underJournald(f) {
		t.Error("without JOURNAL_STREAM: true")
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if !underJournald(f) {
		t.Error("JOURNAL_STREAM naming the file: false")
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1))
	if underJournald(f) {
		t.Error("JOURNAL_STREAM naming another file (inherited): true")
	}
}
