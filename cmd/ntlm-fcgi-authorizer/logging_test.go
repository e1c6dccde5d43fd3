package main

import (
	"log/slog"
	"strings"
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
