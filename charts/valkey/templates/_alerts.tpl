{{/*
The alert rules of a release, as Prometheus rule groups. Every expression selects this
release's series with alerts.selector (labels the annotation-based scrape jobs set); the
PrometheusRule and the rules-file ConfigMap render the same groups.
*/}}
{{- define "wrapper.alertRuleGroups" -}}
{{- $a := .Values.alerts -}}
{{- $sel := tpl $a.selector . -}}
{{- $name := include "wrapper.upstreamFullname" . -}}
- name: valkey-{{ .Release.Namespace }}-{{ $name }}
  rules:
    - alert: ValkeyExporterDown
      expr: up{ {{- $sel -}} } == 0
      for: {{ $a.exporterDown.for }}
      labels:
        severity: {{ $a.exporterDown.severity }}
      annotations:
        summary: Prometheus cannot scrape the Valkey exporter {{ "{{" }} $labels.instance {{ "}}" }}
        description: The exporter of a Valkey pod of {{ $name }} in {{ .Release.Namespace }} has not answered for {{ $a.exporterDown.for }}; its metrics and every other alert of the pod are blind.
    - alert: ValkeyInstanceDown
      expr: redis_up{ {{- $sel -}} } == 0
      for: {{ $a.instanceDown.for }}
      labels:
        severity: {{ $a.instanceDown.severity }}
      annotations:
        summary: Valkey behind exporter {{ "{{" }} $labels.instance {{ "}}" }} does not answer
        description: The exporter runs but cannot reach its Valkey server (down, or refusing its credentials) for {{ $a.instanceDown.for }}.
    - alert: ValkeyReplicaLinkDown
      expr: redis_master_link_up{ {{- $sel -}} } == 0
      for: {{ $a.replicaLinkDown.for }}
      labels:
        severity: {{ $a.replicaLinkDown.severity }}
      annotations:
        summary: Replica {{ "{{" }} $labels.instance {{ "}}" }} lost its link to the primary
        description: The replica has not been replicating from {{ "{{" }} $labels.master_host {{ "}}" }} for {{ $a.replicaLinkDown.for }}.
    {{- if gt (int .Values.valkey.replica.minReplicasToWrite) 0 }}
    - alert: ValkeyWritesRefused
      expr: max by (namespace, service) (redis_connected_slaves{ {{- $sel -}} }) < {{ .Values.valkey.replica.minReplicasToWrite }}
      for: {{ $a.writesRefused.for }}
      labels:
        severity: {{ $a.writesRefused.severity }}
      annotations:
        summary: Fewer replicas than minReplicasToWrite are connected to the primary of {{ $name }}
        description: The primary has {{ "{{" }} $value {{ "}}" }} connected replica(s), fewer than min-replicas-to-write {{ .Values.valkey.replica.minReplicasToWrite }}, so it refuses every write with NOREPLICAS.
    {{- end }}
    - alert: ValkeyMemoryNearLimit
      expr: redis_memory_used_bytes{ {{- $sel -}} } / redis_memory_max_bytes{ {{- $sel -}} } > {{ $a.memoryNearLimit.ratio }} and redis_memory_max_bytes{ {{- $sel -}} } > 0
      for: {{ $a.memoryNearLimit.for }}
      labels:
        severity: {{ $a.memoryNearLimit.severity }}
      annotations:
        summary: Valkey {{ "{{" }} $labels.instance {{ "}}" }} uses more than {{ mulf $a.memoryNearLimit.ratio 100 }} % of its maxmemory
        description: Near maxmemory, Valkey evicts keys or refuses writes (OOM), depending on maxmemory-policy.
    - alert: ValkeyPersistenceFailing
      expr: redis_rdb_last_bgsave_status{ {{- $sel -}} } == 0 or redis_aof_last_write_status{ {{- $sel -}} } == 0
      for: {{ $a.persistenceFailing.for }}
      labels:
        severity: {{ $a.persistenceFailing.severity }}
      annotations:
        summary: Valkey {{ "{{" }} $labels.instance {{ "}}" }} cannot persist its data
        description: The last RDB save or the last write to the append-only file failed; a restart would lose the writes since the last good one.
{{- end }}
