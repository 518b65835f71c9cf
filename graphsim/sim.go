package graphsim

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pion/webrtc/v4"

	"github.com/mediabot-dev/mediabot/signaling"
)

// Config configures the emulator.
type Config struct {
	// Addr is where to listen; "" is 127.0.0.1 on a free port.
	Addr string
	// TenantID, ClientID and ClientSecret are the bot's app registration:
	// the token endpoint only grants tokens to these credentials, and
	// notifications are signed for ClientID as audience.
	TenantID, ClientID, ClientSecret string
	// ClientCertificate, when set, is a certificate credential of the app:
	// the token endpoint also grants tokens for a client assertion signed
	// with its key (RS256, x5t its thumbprint), as Entra ID does.
	ClientCertificate *x509.Certificate
	// Issuer is the iss of notification tokens; "" is https://graph.microsoft.com.
	Issuer string
	// TokenLifetime is how long the access tokens the token endpoint grants
	// are valid, in whole seconds (rounded up); 0 is an hour, as Entra ID's
	// usually are. Tests shorten it to see tokens expire in seconds.
	TokenLifetime time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Sim is a running emulator. Its methods are safe for concurrent use.
type Sim struct {
	cfg    Config
	ln     net.Listener
	srv    *http.Server
	signer *signer
	media  *webrtc.API
	client *http.Client
	log    *slog.Logger
	// encoded holds each voice's packets, encoded once for every call.
	encoded encodeCache
	// ctx ends with Close: calls the bot placed are played under it.
	ctx    context.Context
	cancel context.CancelFunc
	// placing counts the calls the bot placed that are still playing.
	placing sync.WaitGroup
	// dir is who the bot can call: meetings, users, phones.
	dir directory

	mu     sync.Mutex
	tokens map[string]time.Time // access token -> expiry
	calls  map[string]*simCall
	faults []*fault // injected failures, see FailNext
	// requests is the request log, see Requests.
	requests []*Request
	// outages are the identity endpoints taken down, see SetOutage.
	outages outages
}

// Start listens and serves until Close.
func Start(cfg Config) (*Sim, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "https://graph.microsoft.com"
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	cfg.TokenLifetime = (cfg.TokenLifetime + time.Second - 1).Truncate(time.Second)
	if cfg.TenantID == "" || cfg.ClientID == "" {
		return nil, errors.New("graphsim: TenantID and ClientID are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sg, err := newSigner()
	if err != nil {
		return nil, err
	}
	media, err := newMediaAPI()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("graphsim: listen: %w", err)
	}
	s := &Sim{
		cfg: cfg, ln: ln, signer: sg, media: media, log: log,
		// Redirects are not followed: a 307 is the bot's answer to Graph.
		client: &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		tokens: map[string]time.Time{},
		calls:  map[string]*simCall{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.dir.init()
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the emulator's base URL.
func (s *Sim) URL() string { return "http://" + s.ln.Addr().String() }

// GraphURL is the Graph base to give the bot (--graph-url).
func (s *Sim) GraphURL() string { return s.URL() + "/v1.0" }

// TokenURL is the client-credentials endpoint (--token-url).
func (s *Sim) TokenURL() string { return s.URL() + "/" + s.cfg.TenantID + "/oauth2/v2.0/token" }

// JWKSURL is where notification keys are (--inbound-jwks-url).
func (s *Sim) JWKSURL() string { return s.URL() + "/keys" }

// OpenIDURL is the OpenID configuration naming JWKSURL.
func (s *Sim) OpenIDURL() string { return s.URL() + "/.well-known/openid-configuration" }

// Issuer is the iss of notification tokens.
func (s *Sim) Issuer() string { return s.cfg.Issuer }

// App is the bot's app registration the emulator grants tokens to and
// signs notifications for.
func (s *Sim) App() (tenantID, clientID, clientSecret string) {
	return s.cfg.TenantID, s.cfg.ClientID, s.cfg.ClientSecret
}

// Close stops serving and ends every call's media. The calls the bot placed
// are terminated (their last notifications sent) within a few seconds.
func (s *Sim) Close() error {
	s.cancel()
	s.mu.Lock()
	calls := make([]*simCall, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	for _, c := range calls {
		c.end(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	// No handler runs any more, so no placed call starts: wait for those
	// playing to send their end.
	done := make(chan struct{})
	go func() { s.placing.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		s.log.Warn("placed calls still ending after Close")
	}
	return err
}

func (s *Sim) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.logRequests)
	r.Post("/{tenant}/oauth2/v2.0/token", s.down(TokenEndpoint, s.handleToken))
	r.Get("/keys", s.down(KeysEndpoint, s.handleJWKS))
	r.Get("/.well-known/openid-configuration", s.down(KeysEndpoint, s.handleOpenID))
	r.With(s.injectFaults, s.requireToken).Post("/v1.0/communications/calls", s.handleCreateCall)
	r.Route("/v1.0/communications/calls/{callId}", func(r chi.Router) {
		r.Use(s.injectFaults, s.requireToken)
		r.Post("/answer", s.handleAnswer)
		r.Post("/reject", s.handleReject)
		r.Post("/redirect", s.handleRedirect)
		r.Post("/transfer", s.handleTransfer)
		r.Post("/participants/invite", s.handleInvite)
		r.Get("/participants", s.handleListParticipants)
		r.Post("/updateRecordingStatus", s.handleUpdateRecordingStatus)
		r.Post("/keepAlive", s.handleKeepAlive)
		r.Delete("/", s.handleDelete)
	})
	return r
}

func (s *Sim) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, "invalid_request", err.Error())
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeOAuthError(w, "unsupported_grant_type", "grant_type must be client_credentials")
		return
	}
	if code, desc := s.authenticateClient(r); code != "" {
		writeOAuthError(w, code, desc)
		return
	}
	if r.PostForm.Get("scope") == "" {
		writeOAuthError(w, "invalid_scope", "scope is required")
		return
	}
	s.grantToken(w)
}

// grantToken issues an access token of Config.TokenLifetime to an
// authenticated client.
func (s *Sim) grantToken(w http.ResponseWriter) {
	tok := randomID(24)
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(s.cfg.TokenLifetime)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(s.cfg.TokenLifetime / time.Second), "access_token": tok})
}

func (s *Sim) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.signer.jwks())
}

func (s *Sim) handleOpenID(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"issuer": s.cfg.Issuer, "jwks_uri": s.JWKSURL(),
		"id_token_signing_alg_values_supported": []string{"RS256"}})
}

// requireToken refuses Graph requests without a token this emulator issued.
func (s *Sim) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("Authorization")
		const prefix = "Bearer "
		ok := len(tok) > len(prefix) && tok[:len(prefix)] == prefix
		if ok {
			s.mu.Lock()
			exp, found := s.tokens[tok[len(prefix):]]
			s.mu.Unlock()
			ok = found && time.Now().Before(exp)
		}
		if !ok {
			writeGraphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty or invalid.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Sim) call(id string) *simCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func (s *Sim) handleAnswer(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	var req signaling.AnswerRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if err := checkAnswer(&req); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if err := c.answer(req); err != nil {
		writeGraphError(w, http.StatusConflict, "8502", err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Sim) handleReject(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	var req signaling.RejectRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	switch req.Reason {
	case "none", "busy", "forbidden":
	default:
		writeGraphError(w, http.StatusBadRequest, "BadRequest", "reason must be none, busy or forbidden")
		return
	}
	if err := c.reject(req.Reason); err != nil {
		writeGraphError(w, http.StatusConflict, "8502", err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Sim) handleKeepAlive(w http.ResponseWriter, r *http.Request) {
	if s.liveCall(w, r) == nil {
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Sim) handleDelete(w http.ResponseWriter, r *http.Request) {
	c := s.liveCall(w, r)
	if c == nil {
		return
	}
	c.hangupByBot()
	w.WriteHeader(http.StatusNoContent)
}

// checkAnswer enforces what Graph requires of an answer.
func checkAnswer(req *signaling.AnswerRequest) error {
	if err := checkModalities("acceptedModalities", req.AcceptedModalities); err != nil {
		return err
	}
	if req.CallbackURI == "" {
		return errors.New("callbackUri is required by this emulator (Graph falls back to the bot's global URI)")
	}
	if err := checkMediaConfig(req.MediaConfig); err != nil {
		return err
	}
	if req.CallOptions != nil && req.CallOptions.ODataType != "" && req.CallOptions.ODataType != signaling.ODataIncomingCallOptions {
		return fmt.Errorf("callOptions: unexpected @odata.type %q", req.CallOptions.ODataType)
	}
	return nil
}

// checkModalities requires a non-empty list of known modalities in field.
func checkModalities(field string, mods []string) error {
	if len(mods) == 0 {
		return fmt.Errorf("%s is required", field)
	}
	for _, m := range mods {
		if m != "audio" && m != "video" && m != "videoBasedScreenSharing" {
			return fmt.Errorf("%s: unknown modality %q", field, m)
		}
	}
	return nil
}

// checkMediaConfig requires app-hosted media with a blob, or service-hosted
// media.
func checkMediaConfig(mc signaling.MediaConfig) error {
	switch mc.ODataType {
	case signaling.ODataAppHostedMediaConfig:
		if mc.Blob == "" {
			return errors.New("mediaConfig.blob is required for appHostedMediaConfig")
		}
	case signaling.ODataServiceHostedMediaConfig:
	default:
		return fmt.Errorf("mediaConfig: unknown @odata.type %q", mc.ODataType)
	}
	return nil
}

func decodeStrictJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && ct != "application/json; charset=utf-8" {
		return fmt.Errorf("Content-Type must be application/json, got %q", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeGraphError(w http.ResponseWriter, status int, code, msg string) {
	reqID := signaling.NewGUID()
	w.Header().Set("request-id", reqID)
	writeJSON(w, status, signaling.GraphError{Error: signaling.GraphErrorBody{Code: code, Message: msg,
		InnerError: &signaling.GraphInnerError{RequestID: reqID, Date: time.Now().UTC().Format(time.RFC3339)}}})
}

func writeOAuthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}
