# Offline checks of deploy/kubernetes, deploy/seccomp, the Dockerfile and the
# shipped web config. Node packages come from tests/offline/node_modules
# (npm ci, scripts/install-deps.sh); promtool from the Debian package prometheus.
set(DISKIDLE_NODE_PRECHECK
  "command -v node >/dev/null || { echo 'node not found: install nodejs (scripts/install-deps.sh)'; exit 1; }; [ -d node_modules/kubernetes-models ] || { echo 'tests/offline/node_modules missing: run npm ci in tests/offline (scripts/install-deps.sh)'; exit 1; }")
foreach(check kubernetes dockerfile)
  add_test(NAME offline.${check}.check
           COMMAND sh -c "${DISKIDLE_NODE_PRECHECK}; exec node check_${check}.mjs"
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests/offline)
  set_tests_properties(offline.${check}.check PROPERTIES
    LABELS offline
    ENVIRONMENT "DISKIDLE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endforeach()

add_test(NAME offline.web_config.promtool
         COMMAND sh -c "command -v promtool >/dev/null || { echo 'promtool not found: apt-get install prometheus'; exit 1; }; exec promtool check web-config config/web-config.yml"
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(offline.web_config.promtool PROPERTIES LABELS offline)

# The PrometheusRule and dashboard ConfigMap components are generated from
# deploy/prometheus/diskidle-rules.yml and dashboards/diskidle.json: fail when
# either source changed without re-running the generator.
add_test(NAME offline.kubernetes.generated
         COMMAND python3 scripts/generate_kubernetes_components.py --check
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(offline.kubernetes.generated PROPERTIES LABELS offline)
