package oidc

import "errors"

// The reasons an id_token is refused. Each error Verify returns is an
// *Error that matches one of them with errors.Is.
var (
	// ErrMalformed: not a compact JWS of three parts, larger than the
	// cap, or its header or claims are not the JSON they should be.
	ErrMalformed = errors.New("malformed id_token")
	// ErrAlgorithm: the header's alg is not one of Config.Algorithms,
	// or does not fit the key's type or its stated alg.
	ErrAlgorithm = errors.New("signature algorithm not allowed")
	// ErrUnknownKey: no key of the provider's JWKS has the token's kid,
	// even after the key set was fetched again (or could not be, so soon
	// after the last fetch).
	ErrUnknownKey = errors.New("no key with this kid in the provider's key set")
	// ErrSignature: the signature does not verify with the key.
	ErrSignature = errors.New("signature does not verify")
	// ErrIssuer: iss is not Config.Issuer.
	ErrIssuer = errors.New("wrong issuer")
	// ErrAudience: aud does not hold Config.ClientID, or azp is not it.
	ErrAudience = errors.New("wrong audience or authorized party")
	// ErrExpired: exp is missing or past, beyond Config.ExpiryLeeway.
	ErrExpired = errors.New("expired")
	// ErrIssuedAt: iat is missing or in the future, beyond
	// Config.IssuedAtLeeway.
	ErrIssuedAt = errors.New("issued in the future")
	// ErrNonce: the nonce is not the one sent in the authorization
	// request.
	ErrNonce = errors.New("wrong nonce")
	// ErrKeySet: the provider's JWKS could not be fetched or read.
	ErrKeySet = errors.New("key set unavailable")
)

// Error is an id_token that Verify refused. It never holds the token, nor
// the nonces compared.
type Error struct {
	// Reason is one of the Err* values of this package.
	Reason error
	// Detail says more, such as the claim's value; it may be empty.
	Detail string
	// Err is the cause, if any (a network error, a JSON error).
	Err error
}

func (e *Error) Error() string {
	s := "oidc: id_token refused: " + e.Reason.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is e's Reason.
func (e *Error) Is(target error) bool { return target == e.Reason }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func refuse(reason error, detail string, cause error) *Error {
	return &Error{Reason: reason, Detail: detail, Err: cause}
}
