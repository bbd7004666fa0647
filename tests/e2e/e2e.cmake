# Live end-to-end test: real exporter + Prometheus + Alertmanager + loop devices.
# Needs root and the Debian packages prometheus, prometheus-alertmanager, fio.
add_test(NAME e2e.alerting
         COMMAND python3 -m unittest -v test_alerting_e2e
         WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
set_tests_properties(e2e.alerting PROPERTIES
  LABELS e2e
  RUN_SERIAL TRUE
  TIMEOUT 600
  ENVIRONMENT "${DISKIDLE_TEST_ENV}")
