package multi

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/tokenkeeper/tokenkeeper"
)

// keptStore keeps one credential's token in memory while the credential
// is evicted, so that its next Source starts from it instead of logging in
// again. It holds the record tokenkeeper.EncodeToken writes: each Load
// returns a token of its own. It is safe for concurrent use; fmt prints
// its pointer only.
type keptStore struct {
	record atomic.Pointer[[]byte]
}

func (s *keptStore) Load(context.Context) (*tokenkeeper.Token, error) {
	data := s.record.Load()
	if data == nil {
		return nil, nil
	}
	return tokenkeeper.DecodeToken(*data) // an empty token decodes to none
}

func (s *keptStore) Save(_ context.Context, t *tokenkeeper.Token) error {
	if t == nil {
		return errors.New("multi: Save: nil token")
	}
	data, err := tokenkeeper.EncodeToken(t)
	if err != nil {
		return err
	}
	s.record.Store(&data)
	return nil
}
