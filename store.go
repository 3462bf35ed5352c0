package tokenkeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gofrs/flock"
	"github.com/tokenkeeper/tokenkeeper/seal"
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
// store, the file store). A Source whose Store is a Locker takes the lock
// around every renewal, re-reads the stored token once it holds it, and
// uses that token instead of renewing when another process already did.
//
// A lock that frees itself after a lease, so that a holder that crashed
// cannot block the others for ever, says so with a method
//
//	Lease() time.Duration
//
// returning the lease (the Redis store has it; a Locker without it, or
// with a lease of 0, holds the lock until unlocked). A Source holding a
// lock with a lease that it cannot renew cuts its renewal (token call and
// the wait for it) at nine tenths of the lease, so that normally no other
// process takes the lock meanwhile. A token request cut at that point may
// still have reached the provider: the next holder may then meet a
// rotated-away refresh token and fall back to a login. A token that did
// arrive is saved even past that bound.
//
// A Locker whose lock holder can renew its lease (the Redis store) also
// has a method
//
//	TryLockRenewable(ctx context.Context) (unlock, renew func(context.Context) error, ok bool, err error)
//
// which is TryLock that also returns renew: renew extends the lock to a
// full Lease from now if this holder still owns it, and returns an error
// otherwise. A Source holding such a lock does not cut its renewal at
// nine tenths of the lease: it renews the lease every third of it while
// its token request is in flight, and when a renewal of the lease fails
// (or ends too late) it cancels the request and does not use its outcome,
// reporting the failure as an EventStoreFailed and a transient renewal
// failure. So a token endpoint slower than the lease never lets another
// holder in: the lock is strictly exclusive.
//
// Implementations must be safe for concurrent use.
type Locker interface {
	// TryLock tries once to take the renewal lock. It returns ok false,
	// with a nil error, when another holder has it. unlock releases the
	// lock if this holder still owns it.
	TryLock(ctx context.Context) (unlock func(context.Context) error, ok bool, err error)
}

// leaseRenewer is a Locker with TryLockRenewable (see Locker).
type leaseRenewer interface {
	Locker
	TryLockRenewable(ctx context.Context) (unlock, renew func(context.Context) error, ok bool, err error)
}

// leaseOf returns the lease of lk's lock, 0 for none (see Locker).
func leaseOf(lk Locker) time.Duration {
	if l, ok := lk.(interface{ Lease() time.Duration }); ok {
		return l.Lease()
	}
	return 0
}

// ErrCorruptStore is wrapped by the error of a Store whose stored data
// cannot be decoded.
var ErrCorruptStore = errors.New("tokenkeeper: stored token is corrupt")

// memoryStore keeps the token in memory: the Store of a Source given none.
// Its zero value is ready to use; it is safe for concurrent use.
type memoryStore struct {
	// tok is an atomic pointer, which fmt prints as an address: no verb
	// can reach the token's secrets through a memoryStore.
	tok atomic.Pointer[Token]
}

// Load returns a copy of the stored token, or nil.
func (m *memoryStore) Load(context.Context) (*Token, error) {
	t := m.tok.Load()
	if t == nil {
		return nil, nil
	}
	return t.clone(), nil
}

// Save stores a copy of t.
func (m *memoryStore) Save(_ context.Context, t *Token) error {
	if t == nil {
		return errors.New("tokenkeeper: Store.Save: nil token")
	}
	if t.AccessToken == "" && t.RefreshToken == "" {
		m.tok.Store(nil) // an empty token, as Source.Logout saves: none stored
		return nil
	}
	m.tok.Store(t.clone())
	return nil
}

// FileStoreOptions configures a FileStore. The zero value stores the
// token in clear (0600) and logs nothing.
type FileStoreOptions struct {
	// Keys, if set, encrypts the token at rest with AES-256-GCM (package
	// seal), bound to the file's absolute path: a record copied to
	// another path does not open. A clear record, as written without
	// Keys, is still read, and sealed by the next Save.
	Keys seal.KeyProvider
	// Logger, if set, receives a warning when the file is readable or
	// writable by others than its owner. A Source reports the same
	// finding as an EventStoreFailed. Nil logs nothing.
	Logger *slog.Logger
}

// FileStore keeps the token in a file, as JSON (see EncodeToken), sealed
// when FileStoreOptions.Keys is set, with 0600 permissions. Save writes a
// temporary file in the same directory, syncs it and renames it over the
// old one, so a crash mid-write leaves the previous token intact. It
// refuses a symbolic link, and on Unix a file owned by another user.
//
// A FileStore is a Locker: processes sharing the file (a CLI and a cron
// job, several workers on one host) take an advisory lock on a file beside
// it (the path plus ".lock") around every renewal and re-read the token
// under it, so that only one of them presents a rotating refresh token.
// The operating system releases the lock of a process that dies. It is
// safe for concurrent use by multiple goroutines.
type FileStore struct {
	path     string // absolute: the identity a sealed record is bound to
	keys     seal.KeyProvider
	log      *slog.Logger
	warnedAt atomic.Uint32         // the last permission bits warned about
	warning  atomic.Pointer[error] // a finding not yet reported by a Source
	mu       sync.Mutex            // serializes reads and writes of the file in this process
}

var _ Locker = (*FileStore)(nil)

// NewFileStore returns a FileStore writing to path. The directory must
// exist and be writable; path must not be a directory or a symbolic link.
// The file need not exist. At most one FileStoreOptions may be given.
func NewFileStore(path string, opts ...FileStoreOptions) (*FileStore, error) {
	if len(opts) > 1 {
		return nil, errors.New("tokenkeeper: NewFileStore: more than one FileStoreOptions")
	}
	if path == "" {
		return nil, errors.New("tokenkeeper: NewFileStore: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("tokenkeeper: NewFileStore: %w", err)
	}
	if err := checkDir(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("tokenkeeper: NewFileStore: %w", err)
	}
	if fi, err := os.Lstat(abs); err == nil {
		if err := checkFile(abs, fi); err != nil {
			return nil, fmt.Errorf("tokenkeeper: NewFileStore: %w", err)
		}
	}
	s := &FileStore{path: abs}
	if len(opts) == 1 {
		s.keys, s.log = opts[0].Keys, opts[0].Logger
	}
	return s, nil
}

// checkDir reports whether dir is a directory this process can create
// files in, by creating one.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".tokenkeeper-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// checkFile refuses what the store must not read or replace: a directory,
// a symbolic link (it could point at another user's file), anything but a
// regular file, and a file owned by another user.
func checkFile(path string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link; give the path of the file itself", path)
	case fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case ownedByOther(fi):
		return fmt.Errorf("%s belongs to another user", path)
	}
	return nil
}

// Load reads the token. A missing file is (nil, nil); a file that cannot
// be decoded, or a sealed one that does not open (a *seal.OpenError: wrong
// key, tampered, or moved from another path), is an error wrapping
// ErrCorruptStore. A symbolic link, a file of another user, or a failure
// of the key provider is an error too.
func (s *FileStore) Load(ctx context.Context) (*Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := s.read()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokenkeeper: file store: %w", err)
	}
	t, err := s.decode(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("tokenkeeper: file store %s: %w", s.path, err)
	}
	return t, nil
}

// read returns the file's content once checkFile accepts it, making sure
// that what it opened is what it checked (a Save of another process may
// rename a new file in between: then it looks again, a bounded number of
// times).
func (s *FileStore) read() ([]byte, error) {
	for range 5 {
		data, again, err := s.readOnce()
		if !again {
			return data, err
		}
	}
	return nil, fmt.Errorf("%s keeps changing while it is opened", s.path)
}

func (s *FileStore) readOnce() (data []byte, again bool, err error) {
	fi, err := os.Lstat(s.path)
	if err != nil {
		return nil, false, err
	}
	if err := checkFile(s.path, fi); err != nil {
		return nil, false, err
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, errors.Is(err, fs.ErrNotExist), err
	}
	defer f.Close()
	if ofi, err := f.Stat(); err != nil || !os.SameFile(fi, ofi) {
		return nil, true, nil
	}
	s.checkMode(fi.Mode().Perm())
	data, err = io.ReadAll(io.LimitReader(f, maxRecord))
	return data, false, err
}

// maxRecord bounds what Load reads.
const maxRecord = 1 << 20

// checkMode warns, once for each set of permissions, about a file that
// others than its owner may read or write. The next Save replaces it with
// a 0600 file.
func (s *FileStore) checkMode(perm fs.FileMode) {
	if perm&0o077 == 0 || s.warnedAt.Swap(uint32(perm)) == uint32(perm) {
		return
	}
	err := fmt.Errorf("tokenkeeper: file store %s: permissions %v let others than its owner read or write it; the next save makes it 0600", s.path, perm)
	s.warning.Store(&err)
	if s.log != nil {
		s.log.Warn("tokenkeeper: token file permissions are too wide", "path", s.path, "mode", perm.String())
	}
}

// takeWarning returns, once, a finding about the file that is no failure
// of Load, for the Source to report.
func (s *FileStore) takeWarning() error {
	if p := s.warning.Swap(nil); p != nil {
		return *p
	}
	return nil
}

// decode opens a sealed record, or reads a clear one.
func (s *FileStore) decode(ctx context.Context, data []byte) (*Token, error) {
	if seal.IsSealed(data) {
		if s.keys == nil {
			return nil, fmt.Errorf("%w: the token is encrypted and the store has no Keys", ErrCorruptStore)
		}
		plain, err := seal.Open(ctx, s.keys, data, s.path)
		var oe *seal.OpenError
		if errors.As(err, &oe) {
			return nil, fmt.Errorf("%w: %w", ErrCorruptStore, err)
		}
		if err != nil {
			return nil, err
		}
		data = plain
	}
	return DecodeToken(data)
}

// Save writes t atomically, sealed when the store has Keys, as a 0600
// file.
func (s *FileStore) Save(ctx context.Context, t *Token) error {
	data, err := EncodeToken(t)
	if err != nil {
		return err
	}
	if s.keys != nil {
		if data, err = seal.Seal(ctx, s.keys, data, s.path); err != nil {
			return fmt.Errorf("tokenkeeper: file store %s: %w", s.path, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fi, err := os.Lstat(s.path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("tokenkeeper: file store: %w", checkFile(s.path, fi))
	}
	if err := writeFileAtomic(s.path, data); err != nil {
		return fmt.Errorf("tokenkeeper: file store: %w", err)
	}
	return nil
}

// TryLock tries once to take the advisory lock on the file beside the
// token's (path + ".lock", created 0600), which other processes using
// the same path take too. It returns ok false, with a nil error, when
// another holder has it. unlock releases it; further calls return nil.
// The lock has no lease: it lasts until unlocked, and the operating
// system releases the lock of a process that ends.
func (s *FileStore) TryLock(context.Context) (unlock func(context.Context) error, ok bool, err error) {
	lk := flock.New(s.path+".lock", flock.SetPermissions(0o600))
	ok, err = lk.TryLock()
	if err != nil {
		return nil, false, fmt.Errorf("tokenkeeper: file store lock: %w", err)
	}
	if !ok {
		lk.Close()
		return nil, false, nil
	}
	var once sync.Once
	return func(context.Context) error {
		var err error
		once.Do(func() { err = lk.Unlock() })
		return err
	}, true, nil
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
	// DPoPKey is the token's own DPoP key (SourceConfig.DPoP): PKCS #8,
	// base64. Records without it (older ones) still read.
	DPoPKey string `json:"dpop_key,omitempty"`
}

const storedVersion = 1

// EncodeToken serializes t, secrets included, for a Store. The format is
// versioned JSON; DecodeToken reads it back. Treat the result as a secret:
// it holds the tokens and, for a token of a Source with SourceConfig.DPoP,
// the private DPoP key the tokens are bound to.
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
	if t.dpop != nil {
		var err error
		if st.DPoPKey, err = encodeDPoPKey(t.dpop); err != nil {
			return nil, err
		}
	}
	data, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("tokenkeeper: EncodeToken: %w", err)
	}
	return data, nil
}

// DecodeToken parses what EncodeToken wrote. A record of a token with
// neither an access nor a refresh token (what Source.Logout leaves in a
// Store) decodes to nil: no token. Anything else is an error wrapping
// ErrCorruptStore, with no part of the data in its message.
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
		// An empty token, as Source.Logout leaves: no token stored.
		return nil, nil
	}
	t := &Token{
		AccessToken:  st.AccessToken,
		TokenType:    st.TokenType,
		RefreshToken: st.RefreshToken,
		IDToken:      st.IDToken,
		Scope:        st.Scope,
		raw:          st.Extra,
	}
	if st.DPoPKey != "" {
		var err error
		if t.dpop, err = decodeDPoPKey(st.DPoPKey); err != nil {
			return nil, err
		}
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
