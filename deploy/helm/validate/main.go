// kube-validate: every document of rendered Kubernetes manifests, decoded strictly into the
// typed Kubernetes API (client-go's scheme) and the Prometheus Operator's (ServiceMonitor,
// PrometheusRule): an unknown kind or apiVersion, an unknown or duplicated field, or a value
// of the wrong type is an error. Offline: the types are compiled in, no cluster is asked.
//
//	helm template deploy/helm/ml-orchestrator | kube-validate -
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kube-validate FILE|-")
		os.Exit(2)
	}
	var in io.Reader = os.Stdin
	if os.Args[1] != "-" {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		in = f
	}
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	decoder := serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(in))
	failed, n := 0, 0
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "read:", err)
			os.Exit(2)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		n++
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			fmt.Printf("INVALID document %d: %v\n", n, err)
			failed++
			continue
		}
		obj, gvk, err := decoder.Decode(js, nil, nil)
		if err != nil {
			fmt.Printf("INVALID document %d: %v\n", n, err)
			failed++
			continue
		}
		name := ""
		if m, ok := obj.(interface{ GetName() string }); ok {
			name = m.GetName()
		}
		fmt.Printf("ok %s %s %s\n", gvk.GroupVersion().String(), gvk.Kind, name)
	}
	if n == 0 {
		fmt.Println("INVALID: no documents")
		os.Exit(1)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func stripComments(doc []byte) []byte {
	var out []string
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out = append(out, line)
		}
	}
	return []byte(strings.Join(out, "\n"))
}
