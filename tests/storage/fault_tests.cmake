# Fault-injection and group-commit tests; included from tests/storage/CMakeLists.txt.
sluice_test(NAME storage_fault
    SOURCES fault_test.cpp ${CMAKE_CURRENT_SOURCE_DIR}/../support/fault_fs.cpp
    DEPS sluice::storage)
sluice_test(NAME storage_cleaner
    SOURCES cleaner_test.cpp ${CMAKE_CURRENT_SOURCE_DIR}/../support/fault_fs.cpp
    DEPS sluice::storage)
sluice_test(NAME storage_flusher SOURCES flusher_test.cpp DEPS sluice::storage)
