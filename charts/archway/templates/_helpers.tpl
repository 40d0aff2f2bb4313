{{/* Chart name, overridable. */}}
{{- define "archway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource-name prefix: the release name, plus the chart name unless it is already in it. */}}
{{- define "archway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "archway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "archway.labels" -}}
helm.sh/chart: {{ include "archway.chart" . }}
{{ include "archway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: archway
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "archway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "archway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Per-component labels: pass (dict "root" $ "component" "webhook"). */}}
{{- define "archway.componentLabels" -}}
{{ include "archway.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "archway.componentSelectorLabels" -}}
{{ include "archway.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "archway.webhookName" -}}
{{- printf "%s-webhook" (include "archway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "archway.operatorName" -}}
{{- printf "%s-operator" (include "archway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "archway.nodeLabelerName" -}}
{{- printf "%s-node-labeler" (include "archway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "archway.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "archway.webhookName" .)) .Values.tls.secretName }}
{{- end }}

{{- define "archway.registriesSecretName" -}}
{{- default (printf "%s-registries" (include "archway.fullname" .)) .Values.registries.existingSecret }}
{{- end }}

{{- define "archway.registriesSecretKey" -}}
{{- if .Values.registries.existingSecret }}{{ .Values.registries.existingSecretKey }}{{ else }}registries.yaml{{ end }}
{{- end }}

{{- define "archway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* DNS names of the webhook Service, as the serving certificate must carry them. */}}
{{- define "archway.webhookDNSNames" -}}
{{- $svc := include "archway.webhookName" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | toJson }}
{{- end }}

{{/* Namespaces the webhook never mutates: kube-system, the release namespace, and extras. */}}
{{- define "archway.skipNamespaces" -}}
{{- concat (list "kube-system" .Release.Namespace) .Values.webhook.skipNamespaces | uniq | toJson }}
{{- end }}

{{/*
Go-style duration ("2s", "1500ms", "1m30s") to milliseconds; fails on anything else.
Pass (dict "value" X "key" "webhook.budget").
*/}}
{{- define "archway.durationMillis" -}}
{{- $text := toString .value -}}
{{- if not (regexMatch "^([0-9]+(ms|s|m|h))+$" $text) -}}
{{- fail (printf "%s: %q is not a duration like 2s, 1500ms or 1m30s" .key $text) -}}
{{- end -}}
{{- $total := 0 -}}
{{- range $part := regexFindAll "[0-9]+(ms|s|m|h)" $text -1 -}}
{{- $number := regexFind "^[0-9]+" $part | atoi -}}
{{- $unit := trimPrefix (regexFind "^[0-9]+" $part) $part -}}
{{- $scale := get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit -}}
{{- $total = add $total (mul $number $scale) -}}
{{- end -}}
{{- $total -}}
{{- end }}

{{/*
timeoutSeconds of the webhook: explicit, or the budget rounded up to whole seconds plus
2 s, so the API server never gives up on an answer the webhook sends within its budget.
*/}}
{{- define "archway.webhookTimeoutSeconds" -}}
{{- $budgetMs := include "archway.durationMillis" (dict "value" .Values.webhook.budget "key" "webhook.budget") | atoi -}}
{{- $timeout := int .Values.webhook.timeoutSeconds -}}
{{- if eq $timeout 0 -}}
{{- $timeout = add (div (add $budgetMs 999) 1000) 2 -}}
{{- end -}}
{{- if gt $timeout 30 -}}
{{- fail (printf "webhook.timeoutSeconds would be %d but the API server allows at most 30: lower webhook.budget (%s)" $timeout (toString .Values.webhook.budget)) -}}
{{- end -}}
{{- if le (mul $timeout 1000) $budgetMs -}}
{{- fail (printf "webhook.timeoutSeconds (%d) must be longer than webhook.budget (%s)" $timeout (toString .Values.webhook.budget)) -}}
{{- end -}}
{{- $timeout -}}
{{- end }}

{{/* The webhook's default affinity: spread replicas across nodes, so one node going down leaves admission available. */}}
{{- define "archway.webhookDefaultAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "archway.componentSelectorLabels" (dict "root" . "component" "webhook") | nindent 12 }}
{{- end }}

{{/*
The affinity of archway's own pods: `affinity` with a required node affinity on
image.platforms ANDed into each of its nodeSelectorTerms (terms are ORed, so a separate
term would widen it): one term per OS of the platforms, for each term of the user's (a
single empty one when there is none). Pass (dict "root" $ "affinity" <map>); answers YAML.
*/}}
{{- define "archway.podAffinity" -}}
{{- $affinity := deepCopy (.affinity | default dict) -}}
{{- $archsByOs := dict -}}
{{- range $platform := .root.Values.image.platforms -}}
{{- $parts := splitList "/" $platform -}}
{{- $os := index $parts 0 -}}
{{- $_ := set $archsByOs $os (append (get $archsByOs $os | default (list)) (index $parts 1)) -}}
{{- end -}}
{{- if $archsByOs -}}
{{- $nodeAffinity := get $affinity "nodeAffinity" | default dict -}}
{{- $required := get $nodeAffinity "requiredDuringSchedulingIgnoredDuringExecution" | default dict -}}
{{- $terms := list -}}
{{- range $term := get $required "nodeSelectorTerms" | default (list dict) -}}
{{- range $os := keys $archsByOs | sortAlpha -}}
{{- $platform := list (dict "key" "kubernetes.io/os" "operator" "In" "values" (list $os)) (dict "key" "kubernetes.io/arch" "operator" "In" "values" (get $archsByOs $os)) -}}
{{- $combined := deepCopy $term -}}
{{- $_ := set $combined "matchExpressions" (concat (get $term "matchExpressions" | default (list)) $platform) -}}
{{- $terms = append $terms $combined -}}
{{- end -}}
{{- end -}}
{{- $_ := set $required "nodeSelectorTerms" $terms -}}
{{- $_ := set $nodeAffinity "requiredDuringSchedulingIgnoredDuringExecution" $required -}}
{{- $_ := set $affinity "nodeAffinity" $nodeAffinity -}}
{{- end -}}
{{- toYaml $affinity -}}
{{- end }}

{{/* Restricted pod security settings shared by both Deployments. */}}
{{- define "archway.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "archway.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Downward-API environment: the pod's identity (leader election, Events). */}}
{{- define "archway.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- include "archway.proxyEnv" . }}
{{- end }}

{{/* The proxy for registry traffic (proxy.*); nothing while no proxy is set. */}}
{{- define "archway.proxyEnv" -}}
{{- $proxy := .Values.proxy | default dict -}}
{{- if $proxy.existingSecret }}
{{- if or $proxy.httpsProxy $proxy.httpProxy }}
{{- fail "proxy.existingSecret replaces proxy.httpsProxy and proxy.httpProxy: put the URLs in the Secret (keys HTTPS_PROXY, HTTP_PROXY) and leave those two empty" }}
{{- end }}
{{- range $key := list "HTTPS_PROXY" "HTTP_PROXY" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $proxy.existingSecret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- else }}
{{- with $proxy.httpsProxy }}
- name: HTTPS_PROXY
  value: {{ . | quote }}
{{- end }}
{{- with $proxy.httpProxy }}
- name: HTTP_PROXY
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if or $proxy.existingSecret $proxy.httpsProxy $proxy.httpProxy }}
- name: NO_PROXY
  value: {{ $proxy.noProxy | default "" | quote }}
{{- end }}
{{- end }}

{{/* The registries.yaml text the chart stores (file wins over config). */}}
{{- define "archway.registriesYaml" -}}
{{- if .Values.registries.file -}}
{{- .Values.registries.file -}}
{{- else -}}
{{- $config := .Values.registries.config | default dict -}}
{{- range $key, $_ := $config -}}
{{- if not (has $key (list "mirrors" "configs")) -}}
{{- fail (printf "registries.config.%s: registries.yaml (k3s format) has only mirrors and configs" $key) -}}
{{- end -}}
{{- end -}}
{{- dict "mirrors" (get $config "mirrors" | default dict) "configs" (get $config "configs" | default dict) | toYaml -}}
{{ "\n" }}
{{- end -}}
{{- end }}
