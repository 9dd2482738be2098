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

{{/* Refuse what ccmesh can't run yet, and a partial set of Coordinator pins, with the same sentences as `ccmesh install --print`. */}}
{{- define "ccmesh.validate" -}}
{{- if ne .Values.coordinator.store.type "file" -}}
{{- fail "coordinator.store.type \"etcd\" is not supported yet: the etcd store backend is not built; use \"file\"" -}}
{{- end -}}
{{- if gt (int .Values.coordinator.replicas) 1 -}}
{{- fail "coordinator.replicas greater than 1 is not supported yet: replicas need a shared store and the etcd store backend is not built; use 1" -}}
{{- end -}}
{{- $pinsUnset := list (empty .Values.injector.coordinatorPolicy) (empty .Values.injector.meshOwner) (empty .Values.injector.coordinatorMeasurements) -}}
{{- if gt (len (uniq $pinsUnset)) 1 -}}
{{- fail "injector.coordinatorPolicy, injector.meshOwner and injector.coordinatorMeasurements are set together or not at all: pods that verify the Coordinator must also pin the owner of its mesh and its launch measurement" -}}
{{- end -}}
{{- end -}}

{{/* Labels selecting a component's pods. Call with (dict "component" "coordinator"). */}}
{{- define "ccmesh.selectorLabels" -}}
app.kubernetes.io/name: ccmesh
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels on every object of a component. */}}
{{- define "ccmesh.labels" -}}
{{ include "ccmesh.selectorLabels" . }}
app.kubernetes.io/part-of: ccmesh
{{- end -}}

{{/* repository:tag, the tag defaulting to the chart's appVersion (the ccmesh version). */}}
{{- define "ccmesh.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
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
