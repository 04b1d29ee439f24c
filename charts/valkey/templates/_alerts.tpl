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
    {{- /*
    ValkeyWritesRefused counts what min-replicas-to-write counts: the primary's *good*
    replicas, state online and acknowledging within min-replicas-max-lag seconds. Valkey's
    own count (INFO min_slaves_good_slaves) is not exported by redis_exporter (1.86.0 maps
    no such field), so the rule recounts it from the per-replica series the primary's
    exporter derives from INFO's slaveN lines: redis_connected_slave_lag_seconds, labelled
    slave_ip, slave_port and slave_state. Valkey reports lag=0 for a replica that is not
    online yet (wait_bgsave, send_bulk during a full resync), hence the slave_state filter;
    redis_connected_slaves counts those too and stays silent through a resync.

    Only a primary has slaveN lines, so replicas' series never add to the count, and the
    count is per release (by namespace, service), not per pod. With no good replica the
    count has no series at all, so `or` puts a 0 for the release as long as any of its
    exporters answers (redis_up, 0 or 1): the alert goes on while the primary itself is
    down, unreachable or loading, with its replicas still reporting, which is when writes
    are refused too. That keeps the `for` window running from the first refused write
    through a primary's restart and its replicas' resync instead of starting it anew when
    the primary comes back. No absent(): with no exporter of the release answering at all
    (scaled to zero, or never scraped) there is nothing to count on, and ValkeyExporterDown
    and ValkeyInstanceDown speak for the pods that Prometheus still knows.
    */}}
    - alert: ValkeyWritesRefused
      expr: (count by (namespace, service) (redis_connected_slave_lag_seconds{ {{- $sel -}}, slave_state="online"} <= {{ .Values.valkey.replica.minReplicasMaxLag }}) or 0 * group by (namespace, service) (redis_up{ {{- $sel -}} })) < {{ .Values.valkey.replica.minReplicasToWrite }}
      for: {{ $a.writesRefused.for }}
      labels:
        severity: {{ $a.writesRefused.severity }}
      annotations:
        summary: Fewer good replicas than minReplicasToWrite, so the primary of {{ $name }} refuses writes
        description: The primary has {{ "{{" }} $value {{ "}}" }} good replica(s) (online and acknowledging within min-replicas-max-lag {{ .Values.valkey.replica.minReplicasMaxLag }} s), fewer than min-replicas-to-write {{ .Values.valkey.replica.minReplicasToWrite }}, so it refuses every write with NOREPLICAS; 0 also while the primary itself does not report and its replicas do. Replicas still in a full resync or lagging count as connected but not as good.
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
