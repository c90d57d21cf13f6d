{{/*
Name of the chart, for the app.kubernetes.io/name label.
*/}}
{{- define "stowage.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: "stowage" for a release called stowage. Truncated to 55
characters so that the longest derived name ("<fullname>-webhook-tls") still fits in 63.
*/}}
{{- define "stowage.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "stowage.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "stowage.labels" -}}
helm.sh/chart: {{ include "stowage.chart" . }}
{{ include "stowage.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stowage
{{- end }}

{{/*
Labels that select the webhook's pods. They never change between versions, because a
Deployment's selector is immutable.
*/}}
{{- define "stowage.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stowage.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{/*
Name of the ServiceAccount the webhook runs as.
*/}}
{{- define "stowage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stowage.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the Service the API server calls.
*/}}
{{- define "stowage.serviceName" -}}
{{- printf "%s-webhook" (include "stowage.fullname" .) }}
{{- end }}

{{/*
Name of the Secret that holds the serving certificate (tls.crt, tls.key).
*/}}
{{- define "stowage.tlsSecretName" -}}
{{- default (printf "%s-webhook-tls" (include "stowage.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/*
Name of the cert-manager Certificate for the serving certificate; cainjector copies its CA into
the webhook configurations.
*/}}
{{- define "stowage.certificateName" -}}
{{- printf "%s-webhook" (include "stowage.fullname" .) }}
{{- end }}

{{/*
Name of the chart's own CA (Certificate, its Secret, and the Issuer that signs with it).
*/}}
{{- define "stowage.caName" -}}
{{- printf "%s-ca" (include "stowage.fullname" .) }}
{{- end }}

{{/*
Container image reference: repository:tag, or repository@digest when a digest is set.
*/}}
{{- define "stowage.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
clientConfig of a webhook. Pass a dict with "root" (the top context) and "path".
*/}}
{{- define "stowage.clientConfig" -}}
{{- $root := .root -}}
service:
  name: {{ include "stowage.serviceName" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ .path }}
  port: 443
{{- if not $root.Values.certManager.enabled }}
caBundle: {{ required "caBundle (the base64 PEM of the CA that signed the serving certificate) is required when certManager.enabled is false" $root.Values.caBundle }}
{{- end }}
{{- end }}

{{/*
Namespaces the webhooks never see, as a JSON array: the control plane's, the release's own, and
webhook.excludeNamespaces.
*/}}
{{- define "stowage.excludedNamespaces" -}}
{{- concat (list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace) .Values.webhook.excludeNamespaces | uniq | toJson }}
{{- end }}

{{/*
namespaceSelector of both webhooks. The control-plane namespaces and the release's own namespace
are always excluded: a webhook that intercepts its own namespace can block its own recovery.
*/}}
{{- define "stowage.namespaceSelector" -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      {{- include "stowage.excludedNamespaces" . | fromJsonArray | toYaml | nindent 6 }}
  {{- with .Values.webhook.namespaceSelectorExpressions }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
matchConditions shared by both webhooks.
*/}}
{{- define "stowage.commonMatchConditions" -}}
# Kubelets never create StatefulSets or claims on their own; their requests are not ours to judge.
- name: exclude-node-identities
  expression: "!request.userInfo.username.startsWith('system:node:')"
{{- end }}

{{/*
CEL: an UPDATE drops a storage class the stored object has, from a claim template (matched by
name) or from a standalone claim. The class is immutable, so without Stowage putting it back the
API server rejects the update as Invalid (422), and some operators answer that by deleting and
recreating their StatefulSet (prometheus-operator does, with foreground deletion).
*/}}
{{- define "stowage.dropsStoredClass" -}}
request.operation == 'UPDATE' && ((has(object.spec.volumeClaimTemplates) && has(oldObject.spec.volumeClaimTemplates) && oldObject.spec.volumeClaimTemplates.exists(o, has(o.metadata) && has(o.metadata.name) && has(o.spec) && has(o.spec.storageClassName) && object.spec.volumeClaimTemplates.exists(n, has(n.metadata) && has(n.metadata.name) && n.metadata.name == o.metadata.name && (!has(n.spec) || !has(n.spec.storageClassName))))) || (has(oldObject.spec.storageClassName) && !has(object.spec.storageClassName)))
{{- end }}
