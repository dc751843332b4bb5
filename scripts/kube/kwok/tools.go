//go:build tools

// Package tools names the command scripts/kube-build compiles, so go.mod and go.sum pin it.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
