package kestrel

import (
	"errors"
	"net/http"

	"github.com/kestrel-go/kestrel/internal/http1"
)

// ErrNotKestrel is returned by functions that need a request served by
// this package's server.
var ErrNotKestrel = errors.New("kestrel: the request was not served by a kestrel.Server")

func exchange(r *http.Request) (*http1.Exchange, error) {
	if ex := http1.FromRequest(r); ex != nil {
		return ex, nil
	}
	return nil, ErrNotKestrel
}

func checkBodySize(n int64) error {
	if n < 0 && n != Unlimited {
		return errors.New("kestrel: a body size limit must be a number of bytes or Unlimited")
	}
	return nil
}

// SetMaxRequestBodySize sets the body size limit of r, in bytes; Unlimited
// turns it off (Kestrel's IHttpMaxRequestBodySizeFeature). It fails once
// the body has started being read.
func SetMaxRequestBodySize(r *http.Request, n int64) error {
	if err := checkBodySize(n); err != nil {
		return err
	}
	ex, err := exchange(r)
	if err != nil {
		return err
	}
	return ex.SetMaxRequestBodySize(n)
}

// SetMinRequestBodyDataRate sets the minimum rate at which the client must
// send the body of r; the zero DataRate turns the check off for r.
func SetMinRequestBodyDataRate(r *http.Request, rate DataRate) error {
	if err := rate.check("MinRequestBodyDataRate"); err != nil {
		return err
	}
	ex, err := exchange(r)
	if err != nil {
		return err
	}
	ex.SetMinRequestBodyDataRate(rate.engine())
	return nil
}

// SetMinResponseDataRate sets the minimum rate at which the client must
// read the response to r; the zero DataRate turns the check off for r.
func SetMinResponseDataRate(r *http.Request, rate DataRate) error {
	if err := rate.check("MinResponseDataRate"); err != nil {
		return err
	}
	ex, err := exchange(r)
	if err != nil {
		return err
	}
	ex.SetMinResponseDataRate(rate.engine())
	return nil
}

// RequestSizeLimit returns a handler that sets the body size limit of
// every request to n bytes before calling next, like ASP.NET's
// [RequestSizeLimit(n)] attribute.
func RequestSizeLimit(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := SetMaxRequestBodySize(r, n); err != nil && !errors.Is(err, ErrNotKestrel) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// DisableRequestSizeLimit returns a handler that removes the body size
// limit of every request before calling next, like ASP.NET's
// [DisableRequestSizeLimit] attribute.
func DisableRequestSizeLimit(next http.Handler) http.Handler {
	return RequestSizeLimit(Unlimited, next)
}
