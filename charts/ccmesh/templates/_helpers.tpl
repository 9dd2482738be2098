{{/*
Constants shared with ccmesh's code (lib/well-known.ts, k8s/constants.ts, k8s/install/pod-parts.ts). They are
not values: the injected pods, the CLI and the Coordinator rely on them. The chart tests compare each one with
the TypeScript constant of the same meaning; change them there, never only here.
*/}}
{{- define "ccmesh.const.coordinatorUserPort" -}}1313{{- end -}}
{{- define "ccmesh.const.coordinatorMeshPort" -}}7777{{- end -}}
{{- define "ccmesh.const.coordinatorMetricsPort" -}}9102{{- end -}}
{{- define "ccmesh.const.injectorWebhookPort" -}}9443{{- end -}}
{{- define "ccmesh.const.injectorMetricsPort" -}}9103{{- end -}}
{{- define "ccmesh.const.webhookServicePort" -}}443{{- end -}}
{{- define "ccmesh.const.startupProbePath" -}}/probe/startup{{- end -}}
{{- define "ccmesh.const.livenessProbePath" -}}/probe/liveness{{- end -}}
{{- define "ccmesh.const.readinessProbePath" -}}/probe/readiness{{- end -}}
{{- define "ccmesh.const.metricsPath" -}}/metrics{{- end -}}
{{- define "ccmesh.const.coordinatorStoreDir" -}}/var/lib/ccmesh/coordinator{{- end -}}
{{- define "ccmesh.const.tmpDir" -}}/tmp{{- end -}}
{{- define "ccmesh.const.nonrootId" -}}65532{{- end -}}
{{- define "ccmesh.const.coordinatorName" -}}coordinator{{- end -}}
{{- define "ccmesh.const.coordinatorReadyName" -}}coordinator-ready{{- end -}}
{{- define "ccmesh.const.injectorName" -}}ccmesh-injector{{- end -}}
{{- define "ccmesh.const.webhookConfigurationName" -}}ccmesh-injector{{- end -}}
{{- define "ccmesh.const.webhookName" -}}inject.ccmesh.dev{{- end -}}
{{- define "ccmesh.const.webhookPath" -}}/inject{{- end -}}
{{- define "ccmesh.const.injectionNamespaceLabel" -}}ccmesh.dev/injection{{- end -}}
{{- define "ccmesh.const.podRoleAnnotation" -}}ccmesh.dev/pod-role{{- end -}}
{{- define "ccmesh.const.etcdTlsDir" -}}/var/run/ccmesh/etcd-tls{{- end -}}
{{- define "ccmesh.const.injectorTlsDir" -}}/var/run/ccmesh/webhook-tls{{- end -}}
{{- define "ccmesh.const.sidecarAdminPortName" -}}ccmesh-admin{{- end -}}
{{- define "ccmesh.const.sidecarPodMonitorName" -}}ccmesh-sidecars{{- end -}}
{{- define "ccmesh.const.sidecarMetricsPath" -}}/metrics{{- end -}}
{{- define "ccmesh.const.etcdDefaultReplicas" -}}3{{- end -}}

{{/* Refuse combinations that could only crash-loop, and a partial set of Coordinator pins, with the same sentences as `ccmesh install --print`. */}}
{{- define "ccmesh.validate" -}}
{{- $store := .Values.coordinator.store -}}
{{- $etcd := eq $store.type "etcd" -}}
{{- if and (not $etcd) (gt (int .Values.coordinator.replicas) 1) -}}
{{- fail "coordinator.replicas above 1 needs coordinator.store.type \"etcd\": the file store lives on one pod's volume and cannot be shared; use 1 (or 0: automatic), or an etcd store" -}}
{{- end -}}
{{- if and $etcd (empty $store.etcdEndpoints) -}}
{{- fail "coordinator.store.type \"etcd\" needs coordinator.store.etcdEndpoints: the client URLs (https://HOST:PORT) of the etcd cluster the replicas share" -}}
{{- end -}}
{{- if and (not $etcd) (or $store.etcdEndpoints $store.etcdTlsSecret) -}}
{{- fail "coordinator.store.etcdEndpoints and coordinator.store.etcdTlsSecret are read only with coordinator.store.type \"etcd\"" -}}
{{- end -}}
{{- $schemes := list -}}
{{- range $store.etcdEndpoints -}}{{- $schemes = append $schemes (first (splitList ":" .)) -}}{{- end -}}
{{- if gt (len (uniq $schemes)) 1 -}}
{{- fail "coordinator.store.etcdEndpoints must all use one scheme, https:// (or http:// for development)" -}}
{{- end -}}
{{- if and $etcd $store.etcdTlsSecret (has "http" $schemes) -}}
{{- fail "coordinator.store.etcdTlsSecret is only for https:// etcd endpoints (these use http://, without TLS)" -}}
{{- end -}}
{{- if and (gt (int .Values.injector.replicas) 1) (not .Values.injector.tlsSecret) (not .Values.injector.caSecret) -}}
{{- fail "injector.replicas above 1 needs injector.caSecret or injector.tlsSecret: without either each injector makes its own in-memory CA and the replicas would overwrite each other's caBundle" -}}
{{- end -}}
{{- $pinsUnset := list (empty .Values.injector.coordinatorPolicy) (empty .Values.injector.meshOwner) (empty .Values.injector.coordinatorMeasurements) -}}
{{- if gt (len (uniq $pinsUnset)) 1 -}}
{{- fail "injector.coordinatorPolicy, injector.meshOwner and injector.coordinatorMeasurements are set together or not at all: pods that verify the Coordinator must also pin the owner of its mesh and its launch measurement" -}}
{{- end -}}
{{- end -}}

{{/* The Coordinator's replicas: the value, or with 0 (automatic) 1 on the file store and 3 on etcd. */}}
{{- define "ccmesh.coordinatorReplicas" -}}
{{- if gt (int .Values.coordinator.replicas) 0 -}}
{{ .Values.coordinator.replicas }}
{{- else if eq .Values.coordinator.store.type "etcd" -}}
{{ include "ccmesh.const.etcdDefaultReplicas" . }}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/* Labels selecting a component's pods. Call with (dict "component" "coordinator"). */}}
{{- define "ccmesh.selectorLabels" -}}
app.kubernetes.io/name: ccmesh
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels that never change (volumeClaimTemplates can't be updated). Call with (dict "component" "coordinator"). */}}
{{- define "ccmesh.stableLabels" -}}
{{ include "ccmesh.selectorLabels" . }}
app.kubernetes.io/part-of: ccmesh
{{- end -}}

{{/* Labels on every object of a component. Call with (dict "component" "coordinator" "root" $). */}}
{{- define "ccmesh.labels" -}}
{{ include "ccmesh.stableLabels" . }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* Pod labels: the value's extra labels, then the chart's (which win). Call with (dict "component" … "root" $ "extra" <map>). */}}
{{- define "ccmesh.podLabels" -}}
{{- with omit .extra "app.kubernetes.io/name" "app.kubernetes.io/component" "app.kubernetes.io/part-of" "app.kubernetes.io/instance" "app.kubernetes.io/version" "app.kubernetes.io/managed-by" "helm.sh/chart" }}
{{ toYaml . }}
{{- end }}
{{ include "ccmesh.labels" . }}
{{- end -}}

{{/* repository@digest when a digest is set, else repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "ccmesh.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets, priorityClassName, nodeSelector, tolerations and topologySpreadConstraints of a pod, each only when set. Call with (dict "Values" .Values "s" <component values>). */}}
{{- define "ccmesh.scheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .s.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .s.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .s.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .s.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* `etcd:` and the endpoints, the Coordinator's --store value on etcd. */}}
{{- define "ccmesh.etcdStoreArg" -}}
etcd:{{ join "," .Values.coordinator.store.etcdEndpoints }}
{{- end -}}

{{/* The address Coordinator replicas find each other by: the headless Service on the mesh port. */}}
{{- define "ccmesh.coordinatorPeersAddress" -}}
{{ include "ccmesh.const.coordinatorName" . }}.{{ .Release.Namespace }}.svc:{{ include "ccmesh.const.coordinatorMeshPort" . }}
{{- end -}}

{{/* The Coordinator mesh API address given to injected pods. */}}
{{- define "ccmesh.coordinatorMeshAddress" -}}
{{ include "ccmesh.const.coordinatorReadyName" . }}.{{ .Release.Namespace }}.svc:{{ include "ccmesh.const.coordinatorMeshPort" . }}
{{- end -}}

{{- define "ccmesh.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ include "ccmesh.const.nonrootId" . }}
runAsGroup: {{ include "ccmesh.const.nonrootId" . }}
fsGroup: {{ include "ccmesh.const.nonrootId" . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ccmesh.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end -}}

{{/* Requests always; a limit only where a value sets one. Call with a resources value. */}}
{{- define "ccmesh.resources" -}}
requests:
  cpu: {{ .requests.cpu | quote }}
  memory: {{ .requests.memory | quote }}
{{- if or .limits.cpu .limits.memory }}
limits:
  {{- with .limits.cpu }}
  cpu: {{ . | quote }}
  {{- end }}
  {{- with .limits.memory }}
  memory: {{ . | quote }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* prometheus.io pod annotations; call with (dict "Values" .Values "port" <port>). */}}
{{- define "ccmesh.prometheusAnnotations" -}}
{{- if .Values.metrics.podAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: {{ include "ccmesh.const.metricsPath" . }}
{{- end }}
{{- end -}}
