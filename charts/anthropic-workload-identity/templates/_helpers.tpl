{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "awi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless the release name contains it. */}}
{{- define "awi.fullname" -}}
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

{{- define "awi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that never change for the life of a release (Deployment and PDB selectors). */}}
{{- define "awi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "awi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "awi.labels" -}}
helm.sh/chart: {{ include "awi.chart" . }}
{{ include "awi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: anthropic-workload-identity
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "awi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "awi.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Service's in-cluster DNS name: the serving certificate's main name. */}}
{{- define "awi.serviceHost" -}}
{{- printf "%s.%s.svc" (include "awi.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "awi.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "awi.fullname" .)) .Values.certificates.secretName }}
{{- end }}

{{/* repository[:tag][@digest]; the digest pins the content, the tag stays for readers. */}}
{{- define "awi.imageReference" -}}
{{- $ref := .image.repository }}
{{- $tag := default .appVersion .image.tag }}
{{- if $tag }}{{ $ref = printf "%s:%s" $ref $tag }}{{ end }}
{{- if .image.digest }}{{ $ref = printf "%s@%s" $ref .image.digest }}{{ end }}
{{- $ref }}
{{- end }}

{{- define "awi.webhookImage" -}}
{{- include "awi.imageReference" (dict "image" .Values.image "appVersion" .Chart.AppVersion) }}
{{- end }}

{{/* The sidecar image: agent.image's fields, each falling back to the webhook's image. */}}
{{- define "awi.agentImage" -}}
{{- $image := dict "repository" (default .Values.image.repository .Values.agent.image.repository) }}
{{- if .Values.agent.image.repository }}
{{- $_ := set $image "tag" .Values.agent.image.tag }}
{{- $_ := set $image "digest" .Values.agent.image.digest }}
{{- else }}
{{- $_ := set $image "tag" (default .Values.image.tag .Values.agent.image.tag) }}
{{- $_ := set $image "digest" (default .Values.image.digest .Values.agent.image.digest) }}
{{- end }}
{{- include "awi.imageReference" (dict "image" $image "appVersion" .Chart.AppVersion) }}
{{- end }}

{{/* federation.organizationId is required: a pod without the annotation has no other source. */}}
{{- define "awi.organizationId" -}}
{{- required "federation.organizationId is required: set it to your Anthropic organization's UUID (--set federation.organizationId=<uuid>)" .Values.federation.organizationId }}
{{- end }}

{{/*
The Helm-generated CA and serving certificate, as JSON {ca, cert, key} (PEM, not base64).
An existing Secret is reused so that upgrades keep the CA the API server trusts. `helm
template` and GitOps tools have no cluster to look up, so they render new ones every time.
The result is memoised in .Values so the Secret and the caBundle are the same pair within one
render (templates share the chart's values map).
*/}}
{{- define "awi.helmCertificate" -}}
{{- if not (hasKey .Values "_awiHelmCertificate") }}
{{- $secretName := include "awi.tlsSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName }}
{{- $pair := dict }}
{{- if and $existing $existing.data (hasKey $existing.data "ca.crt") (hasKey $existing.data "tls.crt") (hasKey $existing.data "tls.key") }}
{{- $pair = dict "ca" (index $existing.data "ca.crt" | b64dec) "cert" (index $existing.data "tls.crt" | b64dec) "key" (index $existing.data "tls.key" | b64dec) }}
{{- else }}
{{- $days := int .Values.certificates.helm.validityDays }}
{{- $ca := genCA (printf "%s-ca" (include "awi.fullname" .)) $days }}
{{- $fullname := include "awi.fullname" . }}
{{- $altNames := list $fullname (printf "%s.%s" $fullname .Release.Namespace) (include "awi.serviceHost" .) (printf "%s.cluster.local" (include "awi.serviceHost" .)) }}
{{- $cert := genSignedCert (include "awi.serviceHost" .) nil $altNames $days $ca }}
{{- $pair = dict "ca" $ca.Cert "cert" $cert.Cert "key" $cert.Key }}
{{- end }}
{{- $_ := set .Values "_awiHelmCertificate" $pair }}
{{- end }}
{{- toJson (index .Values "_awiHelmCertificate") }}
{{- end }}

{{/* The base64 CA bundle of the webhook configuration, for the modes that know it. */}}
{{- define "awi.caBundle" -}}
{{- if eq .Values.certificates.mode "helm" }}
{{- (include "awi.helmCertificate" . | fromJson).ca | b64enc }}
{{- else if eq .Values.certificates.mode "provided" }}
{{- required "certificates.provided.caBundle is required when certificates.mode is provided: the base64 PEM of the CA that signed your serving certificate" .Values.certificates.provided.caBundle }}
{{- end }}
{{- end }}

{{/* The cert-manager Certificate whose CA cainjector copies into the webhook configuration. */}}
{{- define "awi.certManagerCertificateName" -}}
{{- printf "%s-serving" (include "awi.fullname" .) }}
{{- end }}

{{/* The webhook's command line after the subcommand; only non-empty values become flags. */}}
{{- define "awi.webhookArgs" -}}
{{- $v := .Values }}
{{- $flags := list
  (printf "--listen=:%d" (int $v.webhook.port))
  "--tls-cert-file=/etc/anthropic-wif/tls/tls.crt"
  "--tls-key-file=/etc/anthropic-wif/tls/tls.key"
  (printf "--tls-min-version=%s" $v.webhook.tlsMinVersion)
  (printf "--organization-id=%s" (include "awi.organizationId" .))
}}
{{- if $v.federation.ruleId }}{{ $flags = append $flags (printf "--federation-rule-id=%s" $v.federation.ruleId) }}{{ end }}
{{- $flags = concat $flags (list
  (printf "--audience=%s" $v.federation.audience)
  (printf "--token-expiration=%d" (int $v.federation.tokenExpirationSeconds))
  (printf "--base-url=%s" $v.federation.baseUrl)
  (printf "--mode=%s" $v.agent.mode)
  (printf "--proxy-port=%d" (int $v.agent.proxyPort))
  (printf "--agent-image=%s" (include "awi.agentImage" .))
  (printf "--agent-image-pull-policy=%s" $v.agent.imagePullPolicy)
) }}
{{- range $flag, $value := dict "agent-cpu-request" $v.agent.resources.requests.cpu "agent-memory-request" $v.agent.resources.requests.memory "agent-cpu-limit" $v.agent.resources.limits.cpu "agent-memory-limit" $v.agent.resources.limits.memory }}
{{- if $value }}{{ $flags = append $flags (printf "--%s=%v" $flag $value) }}{{ end }}
{{- end }}
{{- $flags = concat $flags (list
  (printf "--native-sidecar=%v" $v.agent.nativeSidecar)
  (printf "--shadowing=%s" $v.webhook.shadowing)
  (printf "--service-account-lookup=%t" $v.webhook.serviceAccountLookup.enabled)
  (printf "--service-account-lookup-timeout=%d" (int $v.webhook.serviceAccountLookup.timeoutMs))
  (printf "--version-recheck-interval=%d" (int $v.webhook.versionRecheckIntervalSeconds))
  (printf "--max-body-bytes=%d" (int $v.webhook.maxBodyBytes))
  (printf "--log-level=%s" $v.webhook.logLevel)
) }}
{{- range $v.federation.allowedBaseUrls }}{{ $flags = append $flags (printf "--allowed-base-urls=%s" .) }}{{ end }}
{{- if $v.agent.env }}{{ $flags = append $flags (printf "--agent-env=%s" (toJson $v.agent.env)) }}{{ end }}
{{- if $v.webhook.clientAuth.enabled }}
{{- $flags = append $flags (printf "--client-ca-file=/etc/anthropic-wif/client-ca/%s" $v.webhook.clientAuth.caKey) }}
{{- range $v.webhook.clientAuth.allowedNames }}{{ $flags = append $flags (printf "--client-allowed-names=%s" .) }}{{ end }}
{{- end }}
{{- if $v.caBundle.configMapName }}
{{- $flags = concat $flags (list (printf "--ca-bundle-config-map=%s" $v.caBundle.configMapName) (printf "--ca-bundle-key=%s" $v.caBundle.key)) }}
{{- end }}
{{- /* A flag in webhook.extraArgs replaces the chart's own: the webhook refuses a flag given twice. */}}
{{- $overridden := dict }}
{{- range $v.webhook.extraArgs }}{{ $_ := set $overridden (regexReplaceAll "^--([^=]+).*$" . "${1}") true }}{{ end }}
{{- $kept := list }}
{{- range $flags }}{{ if not (hasKey $overridden (regexReplaceAll "^--([^=]+).*$" . "${1}")) }}{{ $kept = append $kept . }}{{ end }}{{ end }}
{{- toYaml (concat (list "webhook") $kept $v.webhook.extraArgs) }}
{{- end }}

{{/* The webhook's series: the given matchers, or what the chart's ServiceMonitor scrapes. */}}
{{- define "awi.webhookSelector" -}}
{{- default (printf "job=%q, namespace=%q" (include "awi.fullname" .) .Release.Namespace) .Values.monitoring.prometheusRule.webhookSelector }}
{{- end }}

{{/* `{a, b}` from a list of PromQL matchers, empty ones left out. */}}
{{- define "awi.matchers" -}}
{{- $kept := list }}
{{- range . }}{{ if . }}{{ $kept = append $kept . }}{{ end }}{{ end }}
{{- printf "{%s}" (join ", " $kept) }}
{{- end }}

{{/* A regex matching exactly the rendered webhook entries' names. */}}
{{- define "awi.webhookEntryNamesRegex" -}}
{{- $names := list (regexQuoteMeta .Values.webhook.labelOptIn.name) }}
{{- if .Values.webhook.annotationOptIn.enabled }}{{ $names = append $names (regexQuoteMeta .Values.webhook.annotationOptIn.name) }}{{ end }}
{{- join "|" $names }}
{{- end }}
