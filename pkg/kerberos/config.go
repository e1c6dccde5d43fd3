package kerberos

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/replay"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// FromConfig builds the Acceptor of cfg's domains that have a keytab_file,
// reading the keytabs now (so a mistake shows at start); nil when none has.
// store, when set, is the replay store of the Acceptor it replaces; else
// the one in [replay] file is opened (in memory when that is empty).
func FromConfig(cfg *config.Config, store replay.Store) (*Acceptor, error) {
	o := Options{Replay: store}
	for i := range cfg.Domains {
		d := &cfg.Domains[i]
		if d.DNSName != "" {
			o.ClientRealms = append(o.ClientRealms, d.DNSName)
		}
		if d.KeytabFile == "" {
			continue
		}
		kt, err := LoadKeytab(d.KeytabFile)
		if err != nil {
			return nil, fmt.Errorf("domain %s: %w", d.Name, err)
		}
		// The service realm is the keytab's: the client's realm (its user's
		// domain) is what must be served, checked apart.
		o.Services = append(o.Services, Service{Principals: cfg.Principals(d), Keytab: kt, TrustedRealms: d.TrustedRealms})
		o.MaxSkew = max(o.MaxSkew, d.ClockSkew())
	}
	if len(o.Services) == 0 {
		return nil, nil
	}
	switch {
	case o.Replay != nil:
	case cfg.Replay.RedisURL != "":
		var pw string
		if f := cfg.Replay.RedisPasswordFile; f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("replay.redis_password_file: %w", err)
			}
			pw = strings.TrimSpace(string(b))
		}
		r, err := replay.NewRedis(replay.RedisOptions{URL: cfg.Replay.RedisURL, Password: pw, Window: 2*o.MaxSkew + replayMargin})
		if err != nil {
			return nil, fmt.Errorf("replay.redis_url: %w", err)
		}
		o.Replay = r
	case cfg.Replay.File == "":
		o.Replay = replay.New(replay.Options{})
	default:
		t, err := replay.Open(cfg.Replay.File, replay.Options{})
		if err != nil {
			return nil, fmt.Errorf("replay.file: %w", err)
		}
		o.Replay = t
	}
	return New(o), nil
}

// LoadKeytab reads a keytab file.
func LoadKeytab(path string) (*keytab.Keytab, error) {
	kt, err := keytab.Load(path)
	if err != nil {
		return nil, fmt.Errorf("keytab %s: %w", path, err)
	}
	return kt, nil
}

// KeyInfo is one key of a keytab, for -check: never the key itself.
type KeyInfo struct {
	Principal string // name@REALM
	KVNO      int
	EncType   string
	Timestamp time.Time
}

// Keys lists kt's keys.
func Keys(kt *keytab.Keytab) []KeyInfo {
	out := make([]KeyInfo, 0, len(kt.Entries))
	for _, e := range kt.Entries {
		out = append(out, KeyInfo{Principal: e.Principal.String(), KVNO: int(e.KVNO), EncType: EncTypeName(e.Key.KeyType), Timestamp: e.Timestamp})
	}
	return out
}
