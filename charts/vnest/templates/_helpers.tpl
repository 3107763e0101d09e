{{/* The tenant name is the release name: a DNS label of at most 40 characters. */}}
{{- define "vnest.tenant" -}}
{{- $n := .Release.Name -}}
{{- if or (gt (len $n) 40) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $n)) -}}
{{- fail (printf "release name %q is the tenant name: use lower-case letters, digits and '-', at most 40 characters" $n) -}}
{{- end -}}
{{- $n -}}
{{- end -}}

{{- define "vnest.labels" -}}
app.kubernetes.io/name: vnest
app.kubernetes.io/instance: {{ include "vnest.tenant" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "vnest.selector" -}}
app.kubernetes.io/name: vnest
app.kubernetes.io/instance: {{ include "vnest.tenant" . }}
{{- end -}}

{{/* Verbs on host objects the syncer owns. */}}
{{- define "vnest.ownedVerbs" -}}
["create", "delete", "get", "list", "patch", "watch"]
{{- end -}}

{{/* Custom resource kinds: the wasmcloud profile's, then the configured ones. */}}
{{- define "vnest.customKinds" -}}
{{- $kinds := list -}}
{{- if has "wasmcloud" .Values.syncer.profiles -}}
{{- range (list "artifacts" "workloads" "workloadreplicasets" "workloaddeployments") -}}
{{- $kinds = append $kinds (dict "group" "runtime.wasmcloud.dev" "plural" . "direction" "toHost" "namespaced" true) -}}
{{- end -}}
{{- $kinds = append $kinds (dict "group" "runtime.wasmcloud.dev" "plural" "hosts" "direction" "fromHost" "namespaced" true) -}}
{{- $kinds = append $kinds (dict "group" "k8s.cosmonic.io" "plural" "hostgroups" "direction" "fromHost" "namespaced" false) -}}
{{- end -}}
{{- range .Values.syncer.customResources -}}
{{- $kinds = append $kinds (dict "group" (index (splitList "/" .apiVersion) 0) "plural" .plural "direction" .direction "namespaced" (ne (default "Namespaced" .scope) "Cluster")) -}}
{{- end -}}
{{- toJson $kinds -}}
{{- end -}}
