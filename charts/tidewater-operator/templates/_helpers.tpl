{{/*
Names and labels shared by every template of the chart.
*/}}

{{/* The chart name, overridable with nameOverride. */}}
{{- define "tidewater-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: "<release>-<chart>" unless the release already says it. */}}
{{- define "tidewater-operator.fullname" -}}
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

{{/* Labels that select the operator's pods; never change them on upgrade. */}}
{{- define "tidewater-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tidewater-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "tidewater-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tidewater-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: tidewater
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "tidewater-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tidewater-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The container image: repository:tag, the tag defaulting to the appVersion. */}}
{{- define "tidewater-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Whether replicas compete for a Lease (more than one replica). */}}
{{- define "tidewater-operator.leaderElection" -}}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}

{{/*
The permissions the operator's reconcile loop uses, and no more: it watches
KafkaClusters and writes their status and finalizers; it server-side applies and
prunes the objects it owns (pods, PVCs, config maps, services, PDBs); it records
Events in both API groups.
*/}}
{{- define "tidewater-operator.rules" -}}
- apiGroups: ["tidewater.io"]
  resources: ["kafkaclusters"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["tidewater.io"]
  resources: ["kafkaclusters/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["tidewater.io"]
  resources: ["kafkaclusters/finalizers"]
  verbs: ["update"]
{{- /* KafkaUsers: watched; patched for the finalizer; their status written. The user
reads its KafkaCluster (get, above). */}}
- apiGroups: ["tidewater.io"]
  resources: ["kafkausers"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["tidewater.io"]
  resources: ["kafkausers/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["tidewater.io"]
  resources: ["kafkausers/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["pods", "persistentvolumeclaims", "configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- /* A roll restarts a broker by evicting its pod, so the PodDisruptionBudget is honoured. */}}
- apiGroups: [""]
  resources: ["pods/eviction"]
  verbs: ["create"]
{{- /* Secured clusters: the CA and node certificate Secrets; KafkaUsers: each user's
Secret, the clients CA it is issued from, and a password Secret the user names. Read one
by one and written with server-side apply; never listed, watched or deleted (owner
references let the garbage collector remove them with the cluster or the user). */}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
