package tokenkeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Store keeps a Source's token across restarts, or shares it between
// processes. Implementations must be safe for concurrent use.
type Store interface {
	// Load returns the stored token, or (nil, nil) when none is stored.
	Load(ctx context.Context) (*Token, error)
	// Save stores t, replacing what was stored. A Source calls it with
	// every new token before any caller can use that token.
	Save(ctx context.Context, t *Token) error
}

// Locker is implemented by stores that several processes share (the Redis
// store). A Source whose Store is a Locker takes the lock around every
// renewal, re-reads the stored token once it holds it, and uses that token
// instead of renewing when another process already did. Implementations
// must be safe for concurrent use.
type Locker interface {
	// TryLock tries once to take the renewal lock. It returns ok false,
	// with a nil error, when another holder has it. unlock releases the
	// lock if this holder still owns it.
	TryLock(ctx context.Context) (unlock func(context.Context) error, ok bool, err error)
	// Lease returns how long a taken lock lasts before it frees itself,
	// so that a holder that crashed cannot block the others for ever; 0
	// means until unlocked. A Source holding a lock with a lease cuts its
	// renewal (token call and the wait for it) at nine tenths of the
	// lease, so that normally no other process takes the lock meanwhile.
	// A token request cut at that point may still have reached the
	// provider: the next holder may then meet a rotated-away refresh
	// token and fall back to a login. A token that did arrive is saved
	// even past that bound.
	Lease() time.Duration
}

// ErrCorruptStore is wrapped by the error of a Store whose stored data
// cannot be decoded.
var ErrCorruptStore = errors.New("tokenkeeper: stored token is corrupt")

// MemoryStore keeps the token in memory. It is the default Store of a
// Source. Its zero value is ready to use; it is safe for concurrent use by
// multiple goroutines.
type MemoryStore struct {
	// tok is an atomic pointer, which fmt prints as an address: no verb
	// can reach the token's secrets through a MemoryStore.
	tok atomic.Pointer[Token]
}

// Load returns a copy of the stored token, or nil.
func (m *MemoryStore) Load(context.Context) (*Token, error) {
	t := m.tok.Load()
	if t == nil {
		return nil, nil
	}
	return t.clone(), nil
}

// Save stores a copy of t.
func (m *MemoryStore) Save(_ context.Context, t *Token) error {
	if t == nil {
		return errors.New("tokenkeeper: MemoryStore.Save: nil token")
	}
	m.tok.Store(t.clone())
	return nil
}

// FileStore keeps the token in a file, as JSON (see EncodeToken), with
// 0600 permissions. Save writes a temporary file in the same directory,
// syncs it and renames it over the old one, so a crash mid-write leaves the
// previous token intact. It is safe for concurrent use by multiple
// goroutines of one process; processes sharing a credential need a shared
// store with a lock instead.
type FileStore struct {
	path string
	mu   sync.Mutex
}

// NewFileStore returns a FileStore writing to path. The directory must
// exist; the file need not.
func NewFileStore(path string) (*FileStore, error) {
	if path == "" {
		return nil, errors.New("tokenkeeper: NewFileStore: empty path")
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenkeeper: NewFileStore: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("tokenkeeper: NewFileStore: %s is not a directory", dir)
	}
	return &FileStore{path: path}, nil
}

// Load reads the token. A missing file is (nil, nil); a file that cannot
// be decoded is an error wrapping ErrCorruptStore.
func (s *FileStore) Load(context.Context) (*Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokenkeeper: file store: %w", err)
	}
	t, err := DecodeToken(data)
	if err != nil {
		return nil, fmt.Errorf("tokenkeeper: file store %s: %w", s.path, err)
	}
	return t, nil
}

// Save writes t atomically.
func (s *FileStore) Save(_ context.Context, t *Token) error {
	data, err := EncodeToken(t)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeFileAtomic(s.path, data); err != nil {
		return fmt.Errorf("tokenkeeper: file store: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename itself durable. Not every platform can sync a
	// directory; the data is already safe, so that failure is ignored.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// storedToken is the persisted form of a Token.
type storedToken struct {
	Version      int            `json:"version"`
	AccessToken  string         `json:"access_token"`
	TokenType    string         `json:"token_type,omitempty"`
	RefreshToken string         `json:"refresh_token,omitempty"`
	IDToken      string         `json:"id_token,omitempty"`
	Scope        string         `json:"scope,omitempty"`
	Expiry       *time.Time     `json:"expiry,omitempty"`
	IssuedAt     *time.Time     `json:"issued_at,omitempty"`
	Extra        map[string]any `json:"extra,omitempty"`
}

const storedVersion = 1

// EncodeToken serializes t, secrets included, for a Store. The format is
// versioned JSON; DecodeToken reads it back. Treat the result as a secret.
// A token holding text that is not valid UTF-8 (which a form-encoded token
// response can carry) is refused: JSON would silently alter it.
func EncodeToken(t *Token) ([]byte, error) {
	if t == nil {
		return nil, errors.New("tokenkeeper: EncodeToken: nil token")
	}
	for _, f := range []struct{ name, v string }{
		{"access token", t.AccessToken}, {"token type", t.TokenType}, {"refresh token", t.RefreshToken},
		{"id token", t.IDToken}, {"scope", t.Scope},
	} {
		if !utf8.ValidString(f.v) {
			return nil, fmt.Errorf("tokenkeeper: EncodeToken: the %s is not valid UTF-8", f.name)
		}
	}
	if !validUTF8Value(t.raw) {
		return nil, errors.New("tokenkeeper: EncodeToken: an extra field is not valid UTF-8")
	}
	st := storedToken{
		Version:      storedVersion,
		AccessToken:  t.AccessToken,
		TokenType:    t.TokenType,
		RefreshToken: t.RefreshToken,
		IDToken:      t.IDToken,
		Scope:        t.Scope,
		Extra:        t.raw,
	}
	if !t.Expiry.IsZero() {
		e := t.Expiry.UTC()
		st.Expiry = &e
	}
	if !t.IssuedAt.IsZero() {
		i := t.IssuedAt.UTC()
		st.IssuedAt = &i
	}
	data, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("tokenkeeper: EncodeToken: %w", err)
	}
	return data, nil
}

// DecodeToken parses what EncodeToken wrote. Anything else is an error
// wrapping ErrCorruptStore, with no part of the data in its message.
func DecodeToken(data []byte) (*Token, error) {
	// Numbers among the extras stay json.Number, as in a token decoded
	// from a response, so that a round trip changes nothing.
	var st storedToken
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil || dec.Decode(new(json.RawMessage)) != io.EOF {
		return nil, fmt.Errorf("%w: not a token record (%d bytes)", ErrCorruptStore, len(data))
	}
	if st.Version != storedVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorruptStore, st.Version)
	}
	if st.AccessToken == "" && st.RefreshToken == "" {
		return nil, fmt.Errorf("%w: neither access nor refresh token", ErrCorruptStore)
	}
	t := &Token{
		AccessToken:  st.AccessToken,
		TokenType:    st.TokenType,
		RefreshToken: st.RefreshToken,
		IDToken:      st.IDToken,
		Scope:        st.Scope,
		raw:          st.Extra,
	}
	for _, p := range []struct {
		name string
		v    *time.Time
		dst  *time.Time
	}{{"expiry", st.Expiry, &t.Expiry}, {"issued_at", st.IssuedAt, &t.IssuedAt}} {
		if p.v == nil {
			continue
		}
		// EncodeToken writes UTC times, which JSON holds for years 0
		// to 9999 only: anything else could not be saved again.
		if y := p.v.UTC().Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf("%w: %s out of range", ErrCorruptStore, p.name)
		}
		*p.dst = *p.v
	}
	return t, nil
}

// validUTF8Value reports whether every string in v, a decoded JSON value,
// map keys included, is valid UTF-8.
func validUTF8Value(v any) bool {
	switch v := v.(type) {
	case string:
		return utf8.ValidString(v)
	case json.Number:
		return utf8.ValidString(string(v))
	case map[string]any:
		for k, e := range v {
			if !utf8.ValidString(k) || !validUTF8Value(e) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !validUTF8Value(e) {
				return false
			}
		}
	}
	return true
}
