package oauthtest

import "maps"

// Stats counts what a Server has seen since it started or since the last
// ResetStats.
type Stats struct {
	// TokenCalls counts token-endpoint calls per grant_type, failed ones and
	// faults included; calls without a readable grant_type count under "".
	TokenCalls map[string]int
	// TokenCallsTotal is the sum of TokenCalls.
	TokenCallsTotal int
	// RefreshReuse counts refresh tokens presented after a rotation had
	// retired them.
	RefreshReuse int
	// Logins counts successful password, authorization_code and
	// client_credentials grants.
	Logins int
	// MaxConcurrentTokenCalls is the most token calls in flight at once,
	// latency and hung calls included.
	MaxConcurrentTokenCalls int
	// APICalls counts calls to the API endpoint; API401s those answered 401.
	APICalls, API401s int
	// Revocations counts authenticated calls to the revocation endpoint.
	Revocations int
	// AssertionRefusals counts client assertions refused: a bad
	// signature, audience or lifetime, or a replayed jti.
	AssertionRefusals int
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.TokenCalls = maps.Clone(s.stats.TokenCalls)
	return st
}

// ResetStats sets every counter to zero. Calls in flight still count in
// MaxConcurrentTokenCalls once more calls start. The Daxium login window is
// not a counter and is left alone.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{TokenCalls: make(map[string]int)}
}

// enter records the start of a token call.
func (s *Server) enter(grant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TokenCalls[grant]++
	s.stats.TokenCallsTotal++
	s.inFlight++
	s.stats.MaxConcurrentTokenCalls = max(s.stats.MaxConcurrentTokenCalls, s.inFlight)
	if s.entered != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
	}
}

// leave records the end of a token call.
func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
}
