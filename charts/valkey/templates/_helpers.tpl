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
{{- $appendonly := regexFindAll "(?im)^[ \t]*appendonly[ \t]+\"?[a-zA-Z]+" (.Values.valkey.valkeyConfig | default "") -1 | last | default "" }}
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
{{- $wrapperInit := false }}
{{- range .Values.valkey.extraInitContainers }}{{ if eq .name "valkey-wrapper-init" }}{{ $wrapperInit = true }}{{ end }}{{ end }}
{{- $serverLines := false }}
{{- range .Values.valkey.extraValkeyConfigs }}{{ if eq .name "valkey-wrapper-server" }}{{ $serverLines = true }}{{ end }}{{ end }}
{{- if and $wrapperInit (not $serverLines) }}
{{- fail "valkey.extraValkeyConfigs has no entry named valkey-wrapper-server: a list set there replaces the wrapper's, whose ConfigMap holds the server lines (maxmemory, maxmemory-policy) the wrapper's init container appends to valkey.conf. Add `- name: valkey-wrapper-server` with `mountPath: /wrapper/server` to the list." }}
{{- end }}
{{- $_ := include "wrapper.serverLines" . }}
{{- if gt (len (include "wrapper.upstreamFullname" .)) 51 }}
{{- fail (printf "the release's full name %q is %d characters: the replication Service %s-replication would exceed Kubernetes' 63. Use a shorter release name or valkey.fullnameOverride." (include "wrapper.upstreamFullname" .) (len (include "wrapper.upstreamFullname" .)) (include "wrapper.upstreamFullname" .)) }}
{{- end }}
{{- end }}

{{/*
A Kubernetes memory quantity in bytes: whole numbers with a binary (Ki, Mi, Gi, Ti) or
decimal (k, M, G, T) suffix, or none. Fails naming the field for anything else.
*/}}
{{- define "wrapper.bytes" -}}
{{- $quantity := toString .quantity }}
{{- $number := regexFind "^[0-9]+" $quantity }}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- $unit := trimPrefix $number $quantity }}
{{- if or (not $number) (not (hasKey $units $unit)) }}
{{- fail (printf "%s is %q: the chart derives maxmemory from it and reads whole numbers with a unit of Ki, Mi, Gi, Ti, k, M, G or T (or none). Write it so (1536Mi, not 1.5Gi), or set maxmemory in valkey.valkeyConfig." .field $quantity) }}
{{- end }}
{{- mul (int64 $number) (get $units $unit) }}
{{- end }}

{{/*
The server lines the wrapper adds to valkey.conf (serverConfig): maxmemory as a share of
the server container's memory limit and the eviction policy, each unless valkeyConfig
sets it. One directive a line.
*/}}
{{- define "wrapper.serverLines" -}}
{{- $config := .Values.valkey.valkeyConfig | default "" }}
{{- $limit := dig "resources" "limits" "memory" "" .Values.valkey }}
{{- if and $limit (not (regexMatch "(?im)^[ \t]*maxmemory[ \t]" $config)) }}
{{- $bytes := include "wrapper.bytes" (dict "quantity" $limit "field" "valkey.resources.limits.memory") | int64 }}
maxmemory {{ div (mul $bytes (int64 .Values.serverConfig.maxmemoryPercentOfLimit)) 100 }}
{{- end }}
{{- if not (regexMatch "(?im)^[ \t]*maxmemory-policy[ \t]" $config) }}
maxmemory-policy {{ .Values.serverConfig.maxmemoryPolicy }}
{{- end }}
{{- end }}
