{{/*
Names of the upstream chart's objects, computed the way upstream's valkey.fullname and
valkey.selectorLabels do, so that the wrapper's objects select the upstream pods.
*/}}
{{- define "wrapper.upstreamName" -}}
{{- default "valkey" .Values.valkey.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wrapper.upstreamFullname" -}}
{{- if .Values.valkey.fullnameOverride }}
{{- .Values.valkey.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "wrapper.upstreamName" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "wrapper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wrapper.upstreamName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "wrapper.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "wrapper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: valkey-platform
{{- end }}

{{/*
Checks that JSON schema cannot express (they compare two values). Each failure names
the field and the fix.
*/}}
{{- define "wrapper.validate" -}}
{{- $replica := .Values.valkey.replica }}
{{- if gt (int $replica.minReplicasToWrite) (int $replica.replicas) }}
{{- fail (printf "valkey.replica.minReplicasToWrite (%d) is greater than valkey.replica.replicas (%d): the primary would refuse every write with NOREPLICAS. Lower minReplicasToWrite or raise replicas." (int $replica.minReplicasToWrite) (int $replica.replicas)) }}
{{- end }}
{{- if and .Values.storageClass.create (ne $replica.persistence.storageClass .Values.storageClass.name) }}
{{- fail (printf "valkey.replica.persistence.storageClass (%q) differs from storageClass.name (%q), so the class this chart creates would go unused. Use the same name, or set storageClass.create: false to use an existing class." $replica.persistence.storageClass .Values.storageClass.name) }}
{{- end }}
{{- if and .Values.networkPolicy.enabled .Values.valkey.networkPolicy }}
{{- fail "networkPolicy.enabled (the wrapper's policy) and valkey.networkPolicy (upstream's) are both set: two policies would each allow what the other denies. Keep one." }}
{{- end }}
{{- $appendonly := regexFindAll "(?m)^[ \t]*appendonly[ \t]+\"?[a-zA-Z]+" (.Values.valkey.valkeyConfig | default "") -1 | last | default "" }}
{{- if and (not (regexMatch "(?i)yes$" $appendonly)) (not .Values.serverConfig.allowWithoutAppendOnly) }}
{{- fail "valkey.valkeyConfig has no `appendonly yes` line (it replaces the wrapper's persistence lines wholesale), so the release would keep RDB snapshots only and a crash would lose every write since the last one. Start valkeyConfig with the wrapper's lines (appendonly yes, appendfsync everysec, see values.yaml), or set serverConfig.allowWithoutAppendOnly: true if the environment means it." }}
{{- end }}
{{- $server := include "valkey.image" .Subcharts.valkey }}
{{- range .Values.valkey.extraInitContainers }}
{{- if and (eq .name "valkey-wrapper-init") (ne .image $server) }}
{{- fail (printf "valkey.extraInitContainers: the wrapper's init container (valkey-wrapper-init) runs image %q, but the server runs %q: it loads and writes the server's data files, so it must be the same image. Set its image to %q." .image $server $server) }}
{{- end }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (dig "podDisruptionBudget" "enabled" false .Values.valkey) }}
{{- fail (printf "podDisruptionBudget.enabled (the wrapper's) and valkey.podDisruptionBudget.enabled (upstream's, 0.10.0 and later) would both create PodDisruptionBudget %s. Keep the wrapper's: set valkey.podDisruptionBudget.enabled: false." (include "wrapper.upstreamFullname" .)) }}
{{- end }}
{{- if and .Values.alerts.prometheusRule.enabled (dig "metrics" "prometheusRule" "enabled" false .Values.valkey) }}
{{- fail (printf "alerts.prometheusRule.enabled (the wrapper's rules) and valkey.metrics.prometheusRule.enabled (upstream's) would both create PrometheusRule %s. Keep one: the wrapper's rules are unit-tested with promtool and proven in a real Prometheus." (include "wrapper.upstreamFullname" .)) }}
{{- end }}
{{- if eq (toString .Values.valkey.service.clusterIP) "None" }}
{{- fail "valkey.service.clusterIP is None: replicas follow the primary through that Service's stable address (the wrapper's init container), which a headless Service does not have. Leave clusterIP unset." }}
{{- end }}
{{- end }}
