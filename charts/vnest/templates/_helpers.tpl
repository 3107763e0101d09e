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

{{/* The StatefulSet's selector only: it is immutable, so it keeps the labels it was first
     installed with. Nothing else may select on it: tenant pods share the host namespace and may
     carry any label outside vnest.dev/. */}}
{{- define "vnest.selector" -}}
app.kubernetes.io/name: vnest
app.kubernetes.io/instance: {{ include "vnest.tenant" . }}
{{- end -}}

{{/* How the chart's Services and NetworkPolicy find the control-plane pod: a vnest.dev/ key, which
     the syncer strips from tenant objects, so no tenant pod can become an endpoint of the tenant's
     API Service. */}}
{{- define "vnest.controlPlaneSelector" -}}
vnest.dev/control-plane: {{ include "vnest.tenant" . | quote }}
{{- end -}}

{{/* The Pod Security Admission level for the host namespace: the tenant's level, except that the
     k3s server runs as root, which "restricted" forbids, so a k3s tenant's namespace enforces
     "baseline" (its syncer still holds tenant pods to "restricted"). src/cli/pod-security.ts makes
     the same choice for `vnest create`. */}}
{{- define "vnest.namespacePodSecurity" -}}
{{- if and (eq .Values.distro "k3s") (eq .Values.isolation.podSecurityStandard "restricted") -}}
baseline
{{- else -}}
{{- .Values.isolation.podSecurityStandard -}}
{{- end -}}
{{- end -}}

{{/* Restricted-level settings for a container that runs as non-root (the syncer's user). */}}
{{- define "vnest.nonRootSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
capabilities: { drop: ["ALL"] }
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

{{/* The tenant's domain: domain, else <release>.<parentDomain>. */}}
{{- define "vnest.domain" -}}
{{- default (printf "%s.%s" (include "vnest.tenant" .) .Values.parentDomain) .Values.domain -}}
{{- end -}}

{{/* Exposure values that only make sense together, refused with what to do. The Ingress host
     must lie outside the tenant's domain: the tenant's own Ingresses may claim any name in it,
     and one claiming the API's host could take its traffic. */}}
{{- define "vnest.checkExposure" -}}
{{- $svc := .Values.service -}}
{{- $domain := include "vnest.domain" . -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.enabled needs ingress.host: the host name users reach the tenant's API at (vnest create --expose ingress --expose-host NAME)" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (or (eq .Values.ingress.host $domain) (hasSuffix (printf ".%s" $domain) .Values.ingress.host)) -}}
{{- fail (printf "ingress.host %q lies in the tenant's domain %q, whose names the tenant's own Ingresses may claim: choose a host name outside it" .Values.ingress.host $domain) -}}
{{- end -}}
{{- if and $svc.nodePort (eq $svc.type "ClusterIP") -}}
{{- fail "service.nodePort needs service.type NodePort or LoadBalancer" -}}
{{- end -}}
{{- if and $svc.nodeAddress (ne $svc.type "NodePort") -}}
{{- fail "service.nodeAddress needs service.type NodePort" -}}
{{- end -}}
{{- if and (or $svc.loadBalancerIP $svc.loadBalancerSourceRanges) (ne $svc.type "LoadBalancer") -}}
{{- fail "service.loadBalancerIP and service.loadBalancerSourceRanges need service.type LoadBalancer" -}}
{{- end -}}
{{- end -}}
