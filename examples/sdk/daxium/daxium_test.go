package daxium_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/examples/sdk/daxium"
)

// source returns a Source holding a fixed access token with no expiry, so
// that no token endpoint is ever called.
func source(t *testing.T) *tokenkeeper.Source {
	t.Helper()
	client, err := tokenkeeper.New(tokenkeeper.Config{TokenURL: "http://127.0.0.1:1/token", ClientID: "id"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{Token: &tokenkeeper.Token{AccessToken: "the-token"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestNew(t *testing.T) {
	if _, err := daxium.New(nil, daxium.Options{}); err == nil {
		t.Error("New(nil) succeeded; want an error")
	}
	if _, err := daxium.New(source(t), daxium.Options{BaseURL: "api.example.com"}); err == nil {
		t.Error("New with a relative BaseURL succeeded; want an error")
	}
}

// meAPI is a fake of Daxium's /me: it checks the credential headers, and
// answers under /ok/ and refuses under /failing/.
func meAPI(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Path; got != "/ok/api/v1.3/me" && got != "/failing/api/v1.3/me" {
			t.Errorf("path = %q; want /ok/api/v1.3/me or /failing/api/v1.3/me", got)
		}
		if got, want := r.Header.Get("Authorization"), "Bearer the-token"; got != want {
			t.Errorf("Authorization = %q; want %q", got, want)
		}
		if got, want := r.Header.Get("X-Accept-Version"), "v1.3"; got != want {
			t.Errorf("X-Accept-Version = %q; want %q", got, want)
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/failing/") {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"code":"DAERR-ACL001","message":"forbidden","url":"https://doc.example/DAERR-ACL001","api_version":"v1.3","infos":[],"server_time":"1767258000"}`))
			return
		}
		w.Write([]byte(`{"user":"ada@example.com","scope":"read"}`))
	}
}

func TestMe(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := httptest.NewServer(meAPI(t))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sdk, err := daxium.New(source(t), daxium.Options{BaseURL: srv.URL + "/ok/"})
	if err != nil {
		t.Fatal(err)
	}
	me, err := sdk.Me(ctx)
	if err != nil {
		t.Fatalf("Me: %v", err)
	}
	if me.Name != "ada@example.com" || me.Scope != "read" {
		t.Errorf("Me() = %+v; want ada@example.com with scope read", me)
	}

	failing, err := daxium.New(source(t), daxium.Options{BaseURL: srv.URL + "/failing"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = failing.Me(ctx)
	var pe *tokenkeeper.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Me error = %v; want a *tokenkeeper.Error", err)
	}
	if pe.StatusCode != http.StatusForbidden || pe.Code != "DAERR-ACL001" || pe.APIVersion != "v1.3" || pe.ServerTime.Unix() != 1767258000 {
		t.Errorf("error = status %d code %q api_version %q server_time %v; want 403 DAERR-ACL001 v1.3 1767258000",
			pe.StatusCode, pe.Code, pe.APIVersion, pe.ServerTime)
	}
}
