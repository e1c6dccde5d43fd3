package replay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable wraps the failures of a shared store that did not answer
// (Redis down or unreachable): the login is refused all the same, with a
// cause that says so.
var ErrUnavailable = errors.New("replay: the shared store did not answer")

// Redis is a Store several nodes share: each key is a Redis key set with
// SET NX and an expiry at until, so the first node to record an
// authenticator wins and every other node sees it as a replay, within the
// clock skew, as one node's Table does.
//
// It fails closed: when Redis does not answer, Add returns an error (the
// login is refused, with cause replay_store), never nil. Failing open would
// reopen, for as long as Redis is down or unreachable, the very window the
// store closes, and an attacker who can cut a node off from Redis chooses
// when. NTLM, the login cookie and connections already logged in do not
// depend on it. The Redis instance must not evict live keys (maxmemory-
// policy noeviction, or no maxmemory: a key lives at most twice
// max_clock_skew), and should persist them (appendonly yes) if a restart of
// Redis must not let a token in once more.
//
// One account cannot fill Redis: each account has a counter of the keys
// it recorded in a window (Window, from its first key on); past
// PerAccount the account is refused (a *BusyError with Heavy set: cause
// replay_principal_full) and the others still log in. A key lives at most
// Window, so the live keys of an account were recorded in this window or
// the one before: at most twice PerAccount.
type Redis struct {
	c          *redis.Client
	prefix     string
	perAccount int
	window     int64 // ms
}

// DefaultRedisPerAccount is how many authenticators one account may record
// in one window (twice max_clock_skew): a person makes a few hundred, a
// busy script at 50 logins a second 30,000 in 10 minutes; one
// stolen ticket replayed as fast as a node can (a few thousand a second)
// is stopped at this, a few tens of MiB of Redis memory.
const DefaultRedisPerAccount = 1 << 17

// addScript records KEYS[1] (the authenticator) for ARGV[2] ms with the
// value ARGV[1] unless it is there, and counts it against KEYS[2] (the
// account), in one round trip and atomically. It answers 1 (recorded), 0
// (a replay), -1 (the account is past its share); ARGV[4] is the window
// in ms. The window is fixed from its first key: were it pushed back by
// each new key, a steady script would never see its count start again. A key that holds this
// very attempt's value is this attempt's own, written by a try whose
// answer was lost (go-redis retries a command once on a network error):
// that is no replay.
var addScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  if v == ARGV[1] then return 1 end
  return 0
end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
if n > tonumber(ARGV[3]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// URL is redis://[:password@]host:port/db or rediss:// (TLS), as
	// go-redis's ParseURL reads it; Password, when set, replaces the URL's
	// (read from a file, so that the URL in a config carries no secret).
	URL, Password string
	// Timeout bounds each command, dial included (default 1 s): a login
	// waits no longer for an unreachable Redis.
	Timeout time.Duration
	// PerAccount bounds the keys one account records in a Window
	// (default DefaultRedisPerAccount).
	PerAccount int
	// Window is at least the longest life of a key: twice max_clock_skew
	// and a margin (default 10 minutes and 5 seconds).
	Window time.Duration
}

// NewRedis connects lazily (the first Add dials): a node starts while Redis
// is down, and refuses Kerberos logins until it answers.
func NewRedis(o RedisOptions) (*Redis, error) {
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("replay: redis URL: %w", err)
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = o.Timeout, o.Timeout, o.Timeout
	opt.MaxRetries = 1
	if o.PerAccount <= 0 {
		o.PerAccount = DefaultRedisPerAccount
	}
	if o.Window <= 0 {
		o.Window = 10*time.Minute + 5*time.Second
	}
	return &Redis{c: redis.NewClient(opt), prefix: "goauthenntlm:replay:", perAccount: o.PerAccount, window: o.Window.Milliseconds()}, nil
}

// Add implements Store.
func (r *Redis) Add(ctx context.Context, key Key, principal string, until time.Time) error {
	var nonce [16]byte
	rand.Read(nonce[:])
	return r.add(ctx, key, principal, until, hex.EncodeToString(nonce[:]))
}

// add records key with the value attempt, unique to this call: a retry of
// the same call finds its own value and is not taken for a replay.
func (r *Redis) add(ctx context.Context, key Key, principal string, until time.Time, attempt string) error {
	ttl := time.Until(until).Milliseconds()
	if ttl < 1 {
		ttl = 1
	}
	who := sha256.Sum256([]byte(principal))
	n, err := addScript.Run(ctx, r.c,
		[]string{r.prefix + hex.EncodeToString(key[:]), r.prefix + "account:" + hex.EncodeToString(who[:16])},
		attempt, ttl, r.perAccount, r.window).Int()
	switch {
	case errors.Is(err, redis.ErrClosed):
		return ErrClosed
	case err != nil:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case n == 0:
		return ErrReplay
	case n < 0:
		return &BusyError{Heavy: true, Held: r.perAccount}
	}
	return nil
}

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }
