// Package ui is the owner's local web UI: server-rendered html/template
// pages, with their stylesheet, script and icons embedded in the binary,
// for reviewing consent requests, seeing every access and every payment,
// and managing datasets.
//
// It is served on its own listener and its own mux, apart from the public
// API: browser routes never share a handler chain with API routes. Its
// invariants:
//
//   - It listens on a loopback address unless Config.AllowRemote is set, and
//     answers only requests whose Host names that loopback address (a
//     defence against DNS rebinding).
//   - The only way in is a one-time login link. Its token is 256 random
//     bits, kept only as a SHA-256 hash, and burnt on first use; it is
//     exchanged for a session cookie (HttpOnly, SameSite=Strict, Secure
//     under TLS). Each login is logged as an owner.login event.
//   - When Config.LinkFile is set, the server keeps a fresh unused login
//     link in that file (mode 0600): it writes one on Open and a new one
//     each time one is used, and removes the file on Close. `trove ui`
//     reads it, so an owner who can read the vault home can always sign
//     in to a running server, and nobody else can.
//   - Every state-changing request is a POST that carries the session's
//     CSRF token (compared in constant time) and comes from the UI's own
//     origin; anything else is refused before the handler runs.
//   - Every response carries a strict Content-Security-Policy (no inline
//     script or style, nothing from elsewhere, frame-ancestors 'none'),
//     X-Content-Type-Options: nosniff, X-Frame-Options: DENY and
//     Referrer-Policy: same-origin (no-referrer would make browsers send "Origin: null" on the UI's own forms). Pages work with JavaScript off; the
//     one script only adds upload progress and re-checks proofs in the
//     browser.
//   - What a visiting algorithm wrote (a result held for review, a failed
//     run's stderr) is untrusted: it is shown only as text, escaped by
//     html/template, with control and bidi characters replaced, and
//     indented only when that cannot blow up its size.
package ui
