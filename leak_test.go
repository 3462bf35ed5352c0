package tokenkeeper

// Printed forms: every value a user may print or log (Config, Client,
// Token, each Grant, AuthCodeFlow, the errors of an echoing server and of
// the network) is formatted with every fmt verb, String, GoString, Error,
// JSON and slog, and none of the recognisable secrets below may show in
// clear, hex or byte-list form.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Recognisable secrets: none of them may show up in any printed form.
const (
	secretPassword = "SECRET-PASSWORD-1"
	secretClient   = "SECRET-CLIENT-2"
	secretAccess   = "SECRET-ACCESS-3"
	secretRefresh  = "SECRET-REFRESH-4"
	secretID       = "SECRET-ID-5"
	secretCode     = "SECRET-CODE-6"
	secretVerifier = "SECRET-VERIFIER-7"
)

var leakSecrets = []string{secretPassword, secretClient, secretAccess, secretRefresh, secretID, secretCode, secretVerifier}

// secretForms returns the ways a secret could appear in printed output:
// in clear, hex encoded (%x, %X), as a byte list (%v of a []byte) and
// base64 encoded at any alignment (json.Marshal of a []byte).
func secretForms(secret string) []string {
	forms := []string{
		secret,
		hex.EncodeToString([]byte(secret)),
		strings.ToUpper(hex.EncodeToString([]byte(secret))),
		strings.Trim(fmt.Sprint([]byte(secret)), "[]"),
	}
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", pad) + secret))
		// Keep the middle, whose characters depend only on the secret.
		forms = append(forms, enc[4:len(enc)-4])
	}
	return forms
}

// leakedIn returns the secrets that output reveals in any form.
func leakedIn(output string) []string {
	var found []string
	for _, s := range leakSecrets {
		for _, form := range secretForms(s) {
			if strings.Contains(output, form) {
				found = append(found, s)
				break
			}
		}
	}
	return found
}

func TestSecretFormsDetectLeaks(t *testing.T) {
	t.Parallel()
	// The detector itself must see each encoding.
	b, err := json.Marshal(struct{ B []byte }{[]byte("ab" + secretRefresh + "cd")})
	require.NoError(t, err)
	for _, out := range []string{
		"x" + secretAccess,
		fmt.Sprintf("%x", "y"+secretAccess),
		fmt.Sprintf("%X", secretAccess),
		fmt.Sprint(struct{ B []byte }{[]byte(secretAccess)}),
		string(b),
	} {
		if len(leakedIn(out)) == 0 {
			t.Errorf("leakedIn(%q) found nothing", out)
		}
	}
}

// echoServer answers every token request with an error whose body repeats
// each value the client sent (and the decoded Basic credentials), in the
// shape named by the request's "shape" header.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var echoed []string
		keys := make([]string, 0, len(r.PostForm))
		for k := range r.PostForm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			echoed = append(echoed, k+"="+r.PostForm.Get(k))
		}
		if id, secret, ok := r.BasicAuth(); ok {
			echoed = append(echoed, "basic="+id+":"+secret)
		}
		all := strings.Join(echoed, " ")
		w.Header().Set("Content-Type", "application/json")
		switch r.Header.Get("X-Shape") {
		case "daerr":
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{
				"code": "DAERR-AUTH001", "message": "Bad credentials: " + all, "url": "https://doc.example.com/" + all,
				"api_version": all, "infos": echoed, "server_time": "1717243200",
			})
		case "ok-with-error":
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid_grant " + all, "error_description": all})
		case "bad-expires-in":
			json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "expires_in": all})
		case "html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>"+all+"</html>")
		default:
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid_grant", "error_description": "rejected: " + all, "error_uri": "https://a.example.com/?" + all})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestNoSecretLeaks prints every public value that holds a secret in every
// way a program might, and looks for the secrets in the output.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	var jsonLog, textLog syncBuffer
	debug := &slog.HandlerOptions{Level: slog.LevelDebug}
	jsonLogger := slog.New(slog.NewJSONHandler(&jsonLog, debug))
	textLogger := slog.New(slog.NewTextHandler(&textLog, debug))

	srv := echoServer(t)
	cfg := Config{
		TokenURL:     srv.URL + "/oauth/token",
		AuthURL:      srv.URL + "/authorize",
		ClientID:     "client-id",
		ClientSecret: secretClient,
		Header:       http.Header{"X-Accept-Version": {"v1.3"}},
		UserAgent:    "leak-test/1",
		HTTPClient:   srv.Client(),
		Clock:        stoppedClock{testEpoch},
		Logger:       jsonLogger,
	}
	client, err := New(cfg)
	require.NoError(t, err)
	textCfg := cfg
	textCfg.Logger = textLogger
	basicCfg := cfg
	basicCfg.AuthStyle = AuthBasic
	basicClient, err := New(basicCfg)
	require.NoError(t, err)

	password := PasswordGrant("jane@example.com", secretPassword, Param("scope", "api"))
	refresh := RefreshTokenGrant(secretRefresh, Param("scope", "api"))
	code := AuthorizationCodeGrant(secretCode, "https://app.example.com/cb", secretVerifier)
	clientCreds := ClientCredentialsGrant(Param("scope", "api"), Param("audience", "https://api.example.com/"), Param("client_assertion", secretClient))
	extension := ExtensionGrant("urn:ietf:params:oauth:grant-type:token-exchange", Param("subject_token", secretAccess), Param("actor_token", secretID))
	grants := []Grant{password, refresh, code, clientCreds, extension}

	tok, err := decodeTokenResponse(200, "application/json", []byte(fmt.Sprintf(
		`{"access_token":%q,"refresh_token":%q,"id_token":%q,"token_type":"bearer","scope":"openid","expires_in":3600}`,
		secretAccess, secretRefresh, secretID)), testEpoch)
	require.NoError(t, err)
	flow := AuthCodeFlow{URL: srv.URL + "/authorize?state=s", State: "state-value", Verifier: secretVerifier, RedirectURI: "https://app.example.com/cb"}

	values := map[string]any{
		"Config":                 cfg,
		"bare Config":            Config{TokenURL: "https://auth.example.com/token", ClientID: "client-id", ClientSecret: secretClient},
		"Client":                 client,
		"basic Client":           basicClient,
		"Token":                  *tok,
		"oauth2-converted Token": *FromOAuth2(tok.OAuth2()),
		"AuthCodeFlow":           flow,
	}
	for _, g := range grants {
		values[g.grantType()] = g
	}

	// Errors from a server that echoes what it was sent, through clients
	// that log.
	ctx := context.Background()
	variants := map[string]Config{"json": cfg, "text": textCfg, "basic": basicCfg}
	for _, shape := range []string{"rfc6749", "daerr", "ok-with-error", "bad-expires-in", "html"} {
		for vname, vc := range variants {
			vc.Header = http.Header{"X-Shape": {shape}}
			c, err := New(vc)
			require.NoError(t, err)
			for _, g := range grants {
				_, err := c.Token(ctx, g)
				require.Error(t, err, "shape %s, %s", shape, g.grantType())
				values[fmt.Sprintf("error %s %s %s", shape, vname, g.grantType())] = err
			}
		}
	}
	// A success through the logging clients, and a network failure.
	okSrv := httptest.NewServer(reply(http.StatusOK, "application/json", fmt.Sprintf(
		`{"access_token":%q,"refresh_token":%q,"id_token":%q,"token_type":"bearer","expires_in":60}`, secretAccess, secretRefresh, secretID)))
	defer okSrv.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	for vname, vc := range map[string]Config{"json": cfg, "text": textCfg} {
		vc.TokenURL = okSrv.URL + "/oauth/token"
		vc.HTTPClient = okSrv.Client()
		c, err := New(vc)
		require.NoError(t, err)
		got, err := c.Token(ctx, password)
		require.NoError(t, err)
		values["received Token "+vname] = got

		vc.TokenURL = downURL + "/oauth/token"
		c, err = New(vc)
		require.NoError(t, err)
		_, err = c.Token(ctx, refresh)
		require.Error(t, err)
		values["network error "+vname] = err
	}

	// The echoes were received and redacted, not merely absent.
	var echoed *Error
	require.ErrorAs(t, values["error rfc6749 json password"].(error), &echoed)
	require.Contains(t, echoed.Message, "password=REDACTED")
	require.Contains(t, echoed.Message, "client_secret=REDACTED")
	require.Contains(t, echoed.Message, "username=jane@example.com", "public parameters are kept")
	require.Contains(t, string(echoed.Body), secretPassword, "Body keeps what was received")
	require.ErrorIs(t, echoed, ErrInvalidGrant)
	require.ErrorAs(t, values["error daerr basic refresh_token"].(error), &echoed)
	require.Contains(t, echoed.Message, "basic=client-id:REDACTED")
	require.Contains(t, echoed.Message, "refresh_token=REDACTED")

	for name, v := range values {
		for _, form := range bothForms(v) {
			outputs := printedForms(form, jsonLogger, textLogger)
			for _, out := range outputs {
				if found := leakedIn(out); len(found) > 0 {
					t.Errorf("%s (%T) leaks %v:\n%s", name, form, found, out)
				}
			}
		}
	}
	for name, out := range map[string]string{"JSON log": jsonLog.String(), "text log": textLog.String()} {
		require.NotEmpty(t, out, "%s is empty: the loggers were not used", name)
		for _, line := range strings.Split(out, "\n") {
			if found := leakedIn(line); len(found) > 0 {
				t.Errorf("%s leaks %v:\n%s", name, found, line)
			}
		}
	}
	require.Contains(t, jsonLog.String(), `"msg":"tokenkeeper: token response"`, "the Client logged its requests")
	require.Contains(t, jsonLog.String(), `"msg":"tokenkeeper: token request failed"`, "the Client logged a network failure")
}

// printedForms returns form printed with every fmt verb, its String,
// GoString, Error and JSON forms, and logs it through both loggers.
func printedForms(form any, jsonLogger, textLogger *slog.Logger) []string {
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"}
	var outputs []string
	for _, verb := range verbs {
		outputs = append(outputs, verb+" "+fmt.Sprintf(verb, form))
	}
	if s, ok := form.(fmt.Stringer); ok {
		outputs = append(outputs, "String() "+safeCall(s.String))
	}
	if s, ok := form.(fmt.GoStringer); ok {
		outputs = append(outputs, "GoString() "+safeCall(s.GoString))
	}
	if e, ok := form.(error); ok {
		outputs = append(outputs, "Error() "+safeCall(e.Error))
	}
	b, err := json.Marshal(form)
	if err != nil {
		outputs = append(outputs, "json error "+err.Error())
	} else {
		outputs = append(outputs, "json "+string(b))
	}
	jsonLogger.Debug("value", "v", form)
	textLogger.Debug("value", "v", form)
	jsonLogger.Debug("group", slog.Group("g", slog.Any("v", form)))
	if e, ok := form.(error); ok {
		jsonLogger.Debug("failed", "err", e)
		textLogger.Debug("failed", "err", e)
	}
	return outputs
}

// bothForms returns v and, if v is a pointer, what it points to; or else
// a pointer to a copy of v.
func bothForms(v any) []any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return []any{v}
		}
		return []any{v, rv.Elem().Interface()}
	}
	p := reflect.New(rv.Type())
	p.Elem().Set(rv)
	return []any{v, p.Interface()}
}

// safeCall calls f and turns a panic into text, so that one bad method
// shows up as a failure rather than ending the test run.
func safeCall(f func() string) (s string) {
	defer func() {
		if r := recover(); r != nil {
			s = fmt.Sprintf("PANIC %v", r)
		}
	}()
	return f()
}
