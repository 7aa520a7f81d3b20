{{- define "orch.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "orch.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "orch.labels" -}}
app.kubernetes.io/name: {{ include "orch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "orch.selector" -}}
app.kubernetes.io/name: {{ include "orch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "orch.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
{{- end -}}

{{/* every setting as ORCHESTRATOR_<NAME>; the broker from kafka.bootstrap */}}
{{- define "orch.env" -}}
- name: ORCHESTRATOR_BROKER
  value: {{ required "kafka.bootstrap is required" .Values.kafka.bootstrap | quote }}
{{- range $name, $value := .Values.settings }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ printf "ORCHESTRATOR_%s" (upper $name) }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "orch.envFrom" -}}
{{- if .Values.secrets.env }}
envFrom:
  - secretRef:
      name: {{ .Values.secrets.env }}
{{- end }}
{{- end -}}

{{/* the volumes every orchestrator container may mount */}}
{{- define "orch.volumes" -}}
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- if .Values.secrets.files }}
- name: secrets-in
  secret:
    secretName: {{ .Values.secrets.files }}
    defaultMode: 0440
- name: secrets
  emptyDir:
    medium: Memory
{{- end }}
{{- if .Values.catalog.topics }}
- name: topics
  configMap:
    name: {{ include "orch.fullname" . }}-topics
{{- end }}
{{- if .Values.catalog.gates }}
- name: gates
  configMap:
    name: {{ include "orch.fullname" . }}-gates
    items:
    {{- range $path, $_ := .Values.catalog.gates }}
      - key: {{ $path | replace "/" "__" }}
        path: {{ $path }}
    {{- end }}
{{- end }}
{{- end -}}

{{- define "orch.volumeMounts" -}}
- name: data
  mountPath: /var/lib/orchestrator
- name: tmp
  mountPath: /tmp
{{- if .Values.secrets.files }}
- name: secrets
  mountPath: /etc/orchestrator/secrets
  readOnly: true
{{- end }}
{{- if .Values.catalog.topics }}
- name: topics
  mountPath: /app/topics
  readOnly: true
{{- end }}
{{- if .Values.catalog.gates }}
- name: gates
  mountPath: /app/gates
  readOnly: true
{{- end }}
{{- end -}}

{{/* secret files copied to memory as the worker's own, mode 600 (the orchestrator refuses a
secret file that group or others can read, and a Secret volume is group-readable) */}}
{{- define "orch.initContainers" -}}
{{- if .Values.secrets.files }}
initContainers:
  - name: secret-files
    image: {{ include "orch.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["sh", "-c", "cp -L /secrets-in/* /etc/orchestrator/secrets/ && chmod 600 /etc/orchestrator/secrets/*"]
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: secrets-in
        mountPath: /secrets-in
        readOnly: true
      - name: secrets
        mountPath: /etc/orchestrator/secrets
{{- end }}
{{- end -}}
