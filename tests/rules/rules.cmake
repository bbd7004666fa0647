# Offline checks of the shipped rules, Alertmanager example and dashboards
# (offline = no network and no root; a local Alertmanager on 127.0.0.1 is fine).
# promtool/amtool come from the Debian packages prometheus and
# prometheus-alertmanager; a missing binary fails the test with the reason.
foreach(check_class PromtoolTest AmtoolTest RulesContentTest)
  add_test(NAME offline.rules.${check_class}
           COMMAND python3 -m unittest -v test_rules.${check_class}
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(offline.rules.${check_class} PROPERTIES
    LABELS offline
    ENVIRONMENT "DISKIDLE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endforeach()

add_test(NAME offline.dashboards.check
         COMMAND sh -c "command -v node >/dev/null || { echo 'node not found: install the Debian package nodejs (scripts/install-deps.sh)'; exit 1; }; [ -d node_modules/@prometheus-io/lezer-promql ] || { echo 'tests/offline/node_modules missing: run npm ci in tests/offline (scripts/install-deps.sh)'; exit 1; }; exec node check_dashboards.mjs"
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests/offline)
set_tests_properties(offline.dashboards.check PROPERTIES
  LABELS offline
  ENVIRONMENT "DISKIDLE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

# The committed rules and dashboards must be byte for byte what the jsonnet
# mixin (deploy/mixin/, Debian package jsonnet) renders.
add_test(NAME offline.mixin.generated
         COMMAND bash ${PROJECT_SOURCE_DIR}/deploy/mixin/generate.sh --check)
set_tests_properties(offline.mixin.generated PROPERTIES LABELS offline)

# The rules in a real Prometheus (127.0.0.1, random port, temporary dir)
# scraping two targets that share `instance` and differ in `pod` (an exporter
# pod restart): every rule evaluates with health ok, the alert fires once per
# disk, every dashboard query evaluates and returns data. About 40 s.
add_test(NAME offline.rules.live_prometheus
         COMMAND python3 -m unittest -v test_rules_live
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(offline.rules.live_prometheus PROPERTIES
  LABELS offline
  TIMEOUT 180
  ENVIRONMENT "DISKIDLE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

# The Alertmanager example's inhibition, routed through a real Alertmanager on
# 127.0.0.1 (a random port, a temporary storage dir): a few seconds.
add_test(NAME offline.rules.alertmanager_inhibition
         COMMAND python3 -m unittest -v test_inhibition
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(offline.rules.alertmanager_inhibition PROPERTIES
  LABELS offline
  TIMEOUT 120
  ENVIRONMENT "DISKIDLE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
