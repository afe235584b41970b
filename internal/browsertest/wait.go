package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// WaitTimeout is how long WaitText waits.
const WaitTimeout = 10 * time.Second

// WaitText waits until the text of the first element that matches the CSS
// selector sel contains substr, polling every 100 ms for WaitTimeout, or
// less when ctx ends sooner (give it a context.WithTimeout of the tab's
// context to wait less). It outlives navigations (a submitted form, a
// redirect), so it can follow a click. Its error says what the element held
// last.
func WaitText(ctx context.Context, sel, substr string) error {
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.textContent : null })()`, quote(sel))
	deadline := time.Now().Add(WaitTimeout)
	last, lastErr, polled := "", error(nil), false
	for {
		text, err := chromedp.Run(ctx, chromedp.Evaluate[*string](js))
		switch {
		case err != nil && ctx.Err() != nil && polled:
			// ctx ended: report what the element held last.
		case err != nil:
			lastErr = err
		case text == nil:
			last, lastErr = "", fmt.Errorf("no element matches %q", sel)
		case strings.Contains(*text, substr):
			return nil
		default:
			last, lastErr = *text, nil
		}
		polled = true
		if ctx.Err() != nil || time.Now().After(deadline) {
			if lastErr != nil {
				return fmt.Errorf("waiting for %q in %q: %w", substr, sel, lastErr)
			}
			return fmt.Errorf("waiting for %q in %q: its text is %q", substr, sel, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// quote is s as a JavaScript string literal.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
