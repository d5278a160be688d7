{{/* Names ------------------------------------------------------------------------------------ */}}

{{- define "tongban.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tongban.fullname" -}}
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

{{/* a component's resource name: fullname-component, within 63 characters */}}
{{- define "tongban.componentName" -}}
{{- $full := include "tongban.fullname" .root }}
{{- printf "%s-%s" ($full | trunc (int (sub 62 (len .component)))) .component | trimSuffix "-" }}
{{- end }}

{{- define "tongban.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: call with (dict "root" $ "component" "server") ----------------------------------- */}}

{{- define "tongban.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tongban.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tongban.labels" -}}
helm.sh/chart: {{ include "tongban.chart" .root }}
{{ include "tongban.selectorLabels" . }}
app.kubernetes.io/part-of: tongban
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Images ----------------------------------------------------------------------------------- */}}

{{- define "tongban.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{- define "tongban.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tongban.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secrets ---------------------------------------------------------------------------------- */}}

{{- define "tongban.secretName" -}}
{{- default (include "tongban.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* the Secret's data: only the values that are set; the required ones fail clearly */}}
{{- define "tongban.secretData" -}}
{{- $s := .Values.secrets -}}
TONGBAN_DATABASE_URL: {{ required "secrets.databaseUrl is required (or set existingSecret)" $s.databaseUrl | b64enc | quote }}
TONGBAN_SECRET_KEY: {{ required "secrets.secretKey is required (or set existingSecret)" $s.secretKey | b64enc | quote }}
TONGBAN_SESSION_SECRET: {{ required "secrets.sessionSecret is required (or set existingSecret)" $s.sessionSecret | b64enc | quote }}
{{- $optional := dict
    "TONGBAN_REDIS_URL" $s.redisUrl
    "TONGBAN_WECHAT_TOKEN" $s.wechatToken
    "TONGBAN_WECHAT_APP_SECRET" $s.wechatAppSecret
    "TONGBAN_WECHAT_AES_KEY" $s.wechatAesKey
    "TONGBAN_MINIPROGRAM_APP_SECRET" $s.miniprogramAppSecret
    "TONGBAN_LLM_API_KEY" $s.llmApiKey
    "TONGBAN_EMBEDDING_API_KEY" $s.embeddingApiKey }}
{{- range $key := keys $optional | sortAlpha }}
{{- with get $optional $key }}
{{ $key }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Wiring to the model servers -------------------------------------------------------------- */}}

{{- define "tongban.llmUrl" -}}
{{- if .Values.llm.vllm.enabled }}
{{- printf "http://%s:%d/v1" (include "tongban.componentName" (dict "root" . "component" "vllm")) (int .Values.llm.vllm.port) }}
{{- else }}
{{- .Values.llm.external.url }}
{{- end }}
{{- end }}

{{- define "tongban.embeddingUrl" -}}
{{- if .Values.embeddings.server.enabled }}
{{- printf "http://%s:%d/v1" (include "tongban.componentName" (dict "root" . "component" "embeddings")) (int .Values.embeddings.server.port) }}
{{- else }}
{{- .Values.embeddings.external.url }}
{{- end }}
{{- end }}

{{- define "tongban.voiceUrl" -}}
{{- if .Values.voice.funasr.enabled }}
{{- printf "ws://%s:%d" (include "tongban.componentName" (dict "root" . "component" "funasr")) (int .Values.voice.funasr.port) }}
{{- else }}
{{- .Values.voice.external.url }}
{{- end }}
{{- end }}

{{/* the brain the app runs: auto picks llm when a model is reachable */}}
{{- define "tongban.brain" -}}
{{- $brain := .Values.config.brain }}
{{- $hosted := ne .Values.llm.provider "openai" }}
{{- $url := include "tongban.llmUrl" . }}
{{- if eq $brain "auto" }}
{{- if or $url $hosted }}llm{{ else }}offline{{ end }}
{{- else }}
{{- if and (eq $brain "llm") (not $url) (not $hosted) }}
{{- fail "config.brain=llm needs a model: enable llm.vllm, set llm.external.url, or pick a hosted llm.provider" }}
{{- end }}
{{- $brain }}
{{- end }}
{{- end }}

{{- define "tongban.embeddingBackend" -}}
{{- if include "tongban.embeddingUrl" . }}openai{{ else }}{{ .Values.embeddings.backend }}{{ end }}
{{- end }}

{{/* the port of a URL: explicit, else the scheme's default */}}
{{- define "tongban.urlPort" -}}
{{- $u := urlParse . }}
{{- $hostport := splitList ":" $u.host }}
{{- if gt (len $hostport) 1 }}{{ last $hostport }}
{{- else if has $u.scheme (list "https" "wss") }}443
{{- else }}80
{{- end }}
{{- end }}

{{/* Pod pieces shared by the server and its jobs --------------------------------------------- */}}

{{- define "tongban.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "tongban.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/* writable emptyDirs for a read-only root filesystem */}}
{{- define "tongban.writableVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.config.tmpSizeLimit }}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.config.dataSizeLimit }}
{{- end }}

{{- define "tongban.writableMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: {{ .Values.config.dataDir }}
{{- end }}

{{/* a model volume from a PVC or a hostPath; call with (dict "name" "models" "source" .model) */}}
{{- define "tongban.modelVolume" -}}
{{- if .source.existingClaim }}
- name: {{ .name }}
  persistentVolumeClaim:
    claimName: {{ .source.existingClaim }}
    readOnly: true
{{- else if .source.hostPath }}
- name: {{ .name }}
  hostPath:
    path: {{ .source.hostPath }}
    type: Directory
{{- end }}
{{- end }}

{{- define "tongban.hasModelSource" -}}
{{- if or .existingClaim .hostPath }}true{{ end }}
{{- end }}

{{/* NetworkPolicy egress rules shared by the server and the jobs; call with .Values.networkPolicy */}}

{{- define "tongban.np.dns" -}}
- to:
    - namespaceSelector:
        {{- toYaml .dns.namespaceSelector | nindent 8 }}
      {{- with .dns.podSelector }}
      podSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end }}
{{- define "tongban.np.database" -}}
- ports:
    - protocol: TCP
      port: {{ .postgresql.port }}
  {{- with .postgresql.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* resources plus nvidia.com/gpu in requests and limits; call with (dict "resources" … "gpus" n) */}}
{{- define "tongban.gpuResources" -}}
{{- $resources := deepCopy (default (dict) .resources) }}
{{- if gt (int .gpus) 0 }}
{{- $gpu := dict "nvidia.com/gpu" (int .gpus) }}
{{- $_ := set $resources "limits" (merge (deepCopy $gpu) (default (dict) $resources.limits)) }}
{{- $_ := set $resources "requests" (merge (deepCopy $gpu) (default (dict) $resources.requests)) }}
{{- end }}
{{- toYaml $resources }}
{{- end }}

{{/* a model server's API key from the app's Secret (optional: the key may be absent) */}}
{{- define "tongban.apiKeyEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "tongban.secretName" .root }}
      key: {{ .key }}
      optional: true
{{- end }}
