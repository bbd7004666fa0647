// Reading pod and container names from container runtimes' config.json.
#include "kubernetes/runtime_state.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace diskidle {
namespace {

constexpr char kId[] = "4f1d9e3c0a2b7c6d5e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d";

// Shaped like containerd 1.7's (compact JSON, as Go's encoding/json writes it).
std::string ContainerdConfig(const std::string& annotations, const std::string& env = "PATH=/bin") {
  return R"({"ociVersion":"1.1.0","process":{"user":{"uid":0,"gid":0},"args":["/pause"],)"
         R"("env":[")" +
         env +
         R"("],"cwd":"/","capabilities":{"bounding":["CAP_CHOWN"]},)"
         R"("oomScoreAdj":-998},"root":{"path":"rootfs","readonly":true},)"
         R"("hostname":"web-0","mounts":[{"destination":"/proc","type":"proc",)"
         R"("source":"proc","options":["nosuid","noexec","nodev"]}],"annotations":{)" +
         annotations +
         R"(},"linux":{"resources":{"cpu":{"shares":2}},"cgroupsPath":"kubepods-burstable-)"
         R"(pod1b2c3d4e_5f6a_4b7c_8d9e_0f1a2b3c4d5e.slice:cri-containerd:)" +
         kId + R"(","namespaces":[{"type":"pid"}]}})";
}

constexpr char kContainerdAnnotations[] =
    R"("io.kubernetes.cri.container-name":"nginx","io.kubernetes.cri.container-type":"container",)"
    R"("io.kubernetes.cri.image-name":"docker.io/library/nginx:1.25",)"
    R"("io.kubernetes.cri.sandbox-id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",)"
    R"("io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop",)"
    R"("io.kubernetes.cri.sandbox-uid":"1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e")";

constexpr char kContainerdSandboxAnnotations[] =
    R"("io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"x",)"
    R"("io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop",)"
    R"("io.kubernetes.cri.sandbox-uid":"1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e")";

// CRI-O's, trimmed (it writes many more io.kubernetes.cri-o.* annotations).
constexpr char kCrioConfig[] =
    R"({"ociVersion":"1.0.2-dev","process":{"args":["postgres"]},"annotations":{)"
    R"("io.container.manager":"cri-o","io.kubernetes.container.hash":"8a1c2f3e",)"
    R"("io.kubernetes.container.name":"db","io.kubernetes.cri-o.ContainerType":"container",)"
    R"("io.kubernetes.pod.name":"postgres-1","io.kubernetes.pod.namespace":"data",)"
    R"("io.kubernetes.pod.uid":"9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"},"linux":{}})";

constexpr char kCrioInfraConfig[] =
    R"({"annotations":{"io.kubernetes.container.name":"POD",)"
    R"("io.kubernetes.cri-o.ContainerType":"sandbox","io.kubernetes.pod.name":"postgres-1",)"
    R"("io.kubernetes.pod.namespace":"data"}})";

TEST(RuntimeStateTest, Containerd) {
  auto labels = ParseContainerdConfig(ContainerdConfig(kContainerdAnnotations));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (PodLabels{"shop", "web-0", "nginx"}));
}

TEST(RuntimeStateTest, ContainerdSandboxIsPOD) {
  auto labels = ParseContainerdConfig(ContainerdConfig(kContainerdSandboxAnnotations));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (PodLabels{"shop", "web-0", "POD"}));
}

TEST(RuntimeStateTest, Crio) {
  auto labels = ParseCrioConfig(kCrioConfig);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (PodLabels{"data", "postgres-1", "db"}));
  auto infra = ParseCrioConfig(kCrioInfraConfig);
  ASSERT_TRUE(infra.ok()) << infra.status();
  EXPECT_EQ(*infra, (PodLabels{"data", "postgres-1", "POD"}));
}

TEST(RuntimeStateTest, JsonThatIsAwkwardYaml) {
  // Tab indentation, escaped slashes and \u escapes are JSON; they must
  // survive the YAML parser.
  auto labels = ParseCrioConfig(
      "{\n\t\"annotations\": {\n\t\t\"io.kubernetes.pod.namespace\": \"a\\/b\",\n"
      "\t\t\"io.kubernetes.pod.name\": \"caf\\u00e9\",\n"
      "\t\t\"io.kubernetes.container.name\": \"c\"\n\t}\n}\n");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (PodLabels{"a/b", "caf\xc3\xa9", "c"}));
}

TEST(RuntimeStateTest, SurrogatePairsAnywhereAreCharacters) {
  // Characters beyond U+FFFF are surrogate pairs in JSON, which YAML rejects:
  // one in a container's env failed the whole file (a new user's trial).
  auto labels = ParseContainerdConfig(ContainerdConfig(
      R"("io.kubernetes.cri.container-name":"c\ud83d\ude00","io.kubernetes.cri.container-type":)"
      R"("container","io.kubernetes.cri.sandbox-name":"web-0",)"
      R"("io.kubernetes.cri.sandbox-namespace":"lone\ud83d-\\ud83d")",
      "MOOD=\\ud83d \\\\ud83d \\uD83D\\uDE00"));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->container, "c\xf0\x9f\x98\x80");
  // A lone surrogate is U+FFFD; an escaped backslash before "ud83d" is text.
  EXPECT_EQ(labels->namespace_name, "lone\xef\xbf\xbd-\\ud83d");
}

TEST(RuntimeStateTest, BigFile) {
  // A container with a large environment: ~2 MiB of config.json.
  std::string env(2 << 20, 'x');
  auto labels = ParseContainerdConfig(ContainerdConfig(kContainerdAnnotations, "BIG=" + env));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->container, "nginx");
}

TEST(RuntimeStateTest, MissingAnnotationsAreNamed) {
  auto labels = ParseContainerdConfig(ContainerdConfig(
      R"("io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.container-type":"container")"));
  ASSERT_FALSE(labels.ok());
  EXPECT_TRUE(absl::IsNotFound(labels.status()));
  EXPECT_NE(labels.status().message().find("io.kubernetes.cri.sandbox-namespace"),
            std::string::npos)
      << labels.status();
  EXPECT_NE(labels.status().message().find("io.kubernetes.cri.container-name"), std::string::npos);
  EXPECT_FALSE(ParseCrioConfig(R"({"ociVersion":"1.0.2"})").ok());
  // Non-Kubernetes containers have annotations, just not these.
  EXPECT_FALSE(ParseCrioConfig(R"({"annotations":{"org.opencontainers.image.title":"x"}})").ok());
  // An annotation that is not text.
  EXPECT_FALSE(
      ParseCrioConfig(R"({"annotations":{"io.kubernetes.pod.namespace":{"a":1},)"
                      R"("io.kubernetes.pod.name":"p","io.kubernetes.container.name":"c"}})")
          .ok());
}

TEST(RuntimeStateTest, MalformedJsonIsAnErrorNotACrash) {
  const std::string good = ContainerdConfig(kContainerdAnnotations);
  for (const std::string& bad : {
           std::string(""),
           std::string("null"),
           std::string("[1,2,3]"),
           std::string("\"annotations\""),
           good.substr(0, good.size() / 2),  // truncated mid-write
           std::string("{\"annotations\":{\"io.kubernetes.cri.sandbox-name\":\"a\\x\"}}"),
           std::string(10000, '['),  // deep nesting
           std::string("&a,\n"),     // yaml-cpp loops forever on this one unguarded
           std::string("{\"annotations\": \x01\xff}"),
       }) {
    EXPECT_FALSE(ParseContainerdConfig(bad).ok()) << bad.substr(0, 80);
  }
}

class RuntimeStateFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/diskidle-runtime-state-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    root_ = dir_template;
    dirs_ = {root_ + "/containerd", root_ + "/crio"};
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void Write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
  }

  CgroupRef Ref(ContainerRuntime runtime) { return CgroupRef{runtime, kId, "uid", "burstable"}; }

  std::string root_;
  RuntimeStateDirs dirs_;
};

TEST_F(RuntimeStateFilesTest, ReadsEachRuntimesFile) {
  Write(dirs_.containerd + "/" + kId + "/config.json", ContainerdConfig(kContainerdAnnotations));
  auto labels = ReadContainerLabels(dirs_, Ref(ContainerRuntime::kContainerd));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (PodLabels{"shop", "web-0", "nginx"}));
  // CRI-O keeps it one level down, in userdata/.
  EXPECT_FALSE(ReadContainerLabels(dirs_, Ref(ContainerRuntime::kCrio)).ok());
  Write(dirs_.crio + "/" + kId + "/userdata/config.json", kCrioConfig);
  labels = ReadContainerLabels(dirs_, Ref(ContainerRuntime::kCrio));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (PodLabels{"data", "postgres-1", "db"}));
}

TEST_F(RuntimeStateFilesTest, AmbiguousIdTriesContainerdThenCrio) {
  Write(dirs_.crio + "/" + kId + "/userdata/config.json", kCrioConfig);
  auto labels = ReadContainerLabels(dirs_, Ref(ContainerRuntime::kAmbiguous));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->namespace_name, "data");
  Write(dirs_.containerd + "/" + kId + "/config.json", ContainerdConfig(kContainerdAnnotations));
  labels = ReadContainerLabels(dirs_, Ref(ContainerRuntime::kAmbiguous));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->namespace_name, "shop");
}

TEST_F(RuntimeStateFilesTest, MissingUnreadableOrMalformedFilesAreErrors) {
  auto missing = ReadContainerLabels(dirs_, Ref(ContainerRuntime::kContainerd));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dirs_.containerd), std::string::npos)
      << missing.status();
  auto both = ReadContainerLabels(dirs_, Ref(ContainerRuntime::kAmbiguous));
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find(dirs_.crio), std::string::npos) << both.status();

  Write(dirs_.containerd + "/" + kId + "/config.json", "{\"annotations\": {");
  EXPECT_FALSE(ReadContainerLabels(dirs_, Ref(ContainerRuntime::kContainerd)).ok());
  // A directory where the file should be.
  std::filesystem::create_directories(dirs_.crio + "/" + kId + "/userdata/config.json");
  EXPECT_FALSE(ReadContainerLabels(dirs_, Ref(ContainerRuntime::kCrio)).ok());
  // Not a container at all.
  EXPECT_FALSE(ReadContainerLabels(dirs_, CgroupRef{}).ok());
}

}  // namespace
}  // namespace diskidle
