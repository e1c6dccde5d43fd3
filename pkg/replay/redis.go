package replay

import (
	"context"
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
type Redis struct {
	c      *redis.Client
	prefix string
}

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// URL is redis://[:password@]host:port/db or rediss:// (TLS), as
	// go-redis's ParseURL reads it; Password, when set, replaces the URL's
	// (read from a file, so that the URL in a config carries no secret).
	URL, Password string
	// Timeout bounds each command, dial included (default 1 s): a login
	// waits no longer for an unreachable Redis.
	Timeout time.Duration
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
	return &Redis{c: redis.NewClient(opt), prefix: "goauthenntlm:replay:"}, nil
}

// Add implements Store.
func (r *Redis) Add(ctx context.Context, key Key, principal string, until time.Time) error {
	ttl := time.Until(until)
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	ok, err := r.c.SetNX(ctx, r.prefix+hex.EncodeToString(key[:]), principal, ttl).Result()
	switch {
	case errors.Is(err, redis.ErrClosed):
		return ErrClosed
	case err != nil:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case !ok:
		return ErrReplay
	}
	return nil
}

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }
