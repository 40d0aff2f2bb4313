# Resolver, publisher and the inspect / publish commands (helper r2's tests), included
# from tests/registry/CMakeLists.txt. All run against real docker-registry instances.
archway_add_test(registry_resolver_test
  SOURCES resolver_test.cpp
  LIBS archway_registry archway_test_support
  LABELS integration)

archway_add_test(registry_publisher_test
  SOURCES publisher_test.cpp
  LIBS archway_registry archway_test_support
  LABELS integration)

# End-to-end tests of the binary (ARCHWAY_BINARY): they need it built first.
archway_add_test(registry_inspect_command_test
  SOURCES inspect_test.cpp
  LIBS archway_test_support nlohmann_json::nlohmann_json
  LABELS integration)
add_dependencies(registry_inspect_command_test archway)
archway_add_test(registry_publish_command_test
  SOURCES publish_test.cpp
  LIBS archway_test_support nlohmann_json::nlohmann_json
  LABELS integration)
add_dependencies(registry_publish_command_test archway)
