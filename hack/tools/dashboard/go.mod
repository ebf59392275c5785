module github.com/flotilla-dev/flotilla/hack/tools/dashboard

go 1.26.0

require github.com/grafana/grafana-foundation-sdk/go v0.0.22
