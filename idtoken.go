package tokenkeeper

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// maxIDTokenBytes caps the id_token read for its expiry: a larger one is
// not split or decoded.
const maxIDTokenBytes = 16 << 10

// idTokenExpiry returns the exp claim of a JWT id_token, unverified, or
// the zero time when it has none or is not a JWT. It is used only for the
// expiry of a token whose API credential is the id_token and whose
// response gave no expires_in (Transiteo): the server that signed it said
// when it stops being accepted. Validation belongs to the oidc package.
func idTokenExpiry(idToken string) time.Time {
	if len(idToken) > maxIDTokenBytes || strings.Count(idToken, ".") != 2 {
		return time.Time{}
	}
	payload := strings.Split(idToken, ".")[1]
	data, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(data, &claims) != nil {
		return time.Time{}
	}
	exp, err := claims.Exp.Int64()
	if err != nil || exp <= 0 || exp > 1<<40 {
		return time.Time{}
	}
	return time.Unix(exp, 0)
}
