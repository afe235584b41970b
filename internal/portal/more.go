package portal

import "net/http"

// moreViews registers the access, usage, AI Act, audit and twin views
// (views_more.go).
func (p *Portal) moreViews(get, post func(string, func(http.ResponseWriter, *http.Request))) {
}
