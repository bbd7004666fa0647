// The cgroup path parser over the layouts Kubernetes nodes really have.
#include "kubernetes/cgroup_path.h"

#include <string>

#include "gtest/gtest.h"

namespace diskidle {
namespace {

constexpr char kId[] = "4f1d9e3c0a2b7c6d5e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d";
constexpr char kId2[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
constexpr char kUid[] = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
constexpr char kUidSystemd[] = "1b2c3d4e_5f6a_4b7c_8d9e_0f1a2b3c4d5e";
constexpr char kStaticUid[] = "6c8f3bd2d8f4e6e2b5a1c0d9e8f7a6b5";  // md5 of a static pod's manifest

struct PathCase {
  std::string name;
  std::string path;
  CgroupRef want;
};

std::string S(const char* a) { return a; }

using R = ContainerRuntime;

const PathCase kCases[] = {
    // containerd + systemd driver, each QoS class.
    {"containerd_systemd_burstable",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + S(kUidSystemd) +
         ".slice/cri-containerd-" + kId + ".scope",
     {R::kContainerd, kId, kUid, "burstable"}},
    {"containerd_systemd_besteffort",
     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + S(kUidSystemd) +
         ".slice/cri-containerd-" + kId + ".scope",
     {R::kContainerd, kId, kUid, "besteffort"}},
    {"containerd_systemd_guaranteed",
     "/kubepods.slice/kubepods-pod" + S(kUidSystemd) + ".slice/cri-containerd-" + kId + ".scope",
     {R::kContainerd, kId, kUid, "guaranteed"}},
    {"containerd_systemd_static_pod",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + S(kStaticUid) +
         ".slice/cri-containerd-" + kId + ".scope",
     {R::kContainerd, kId, kStaticUid, "burstable"}},
    // containerd (or dockershim) + cgroupfs driver: a bare id.
    {"cgroupfs_burstable",
     "/kubepods/burstable/pod" + S(kUid) + "/" + kId,
     {R::kAmbiguous, kId, kUid, "burstable"}},
    {"cgroupfs_besteffort",
     "/kubepods/besteffort/pod" + S(kUid) + "/" + kId,
     {R::kAmbiguous, kId, kUid, "besteffort"}},
    {"cgroupfs_guaranteed",
     "/kubepods/pod" + S(kUid) + "/" + kId,
     {R::kAmbiguous, kId, kUid, "guaranteed"}},
    // CRI-O: systemd driver, its conmon beside the container, cgroupfs driver.
    {"crio_systemd",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + S(kUidSystemd) +
         ".slice/crio-" + kId + ".scope",
     {R::kCrio, kId, kUid, "burstable"}},
    {"crio_conmon_is_not_the_container",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + S(kUidSystemd) +
         ".slice/crio-conmon-" + kId + ".scope",
     {R::kCrio, "", kUid, "burstable", true}},
    {"crio_cgroupfs",
     "/kubepods/pod" + S(kUid) + "/crio-" + kId,
     {R::kCrio, kId, kUid, "guaranteed"}},
    {"crio_cgroupfs_besteffort",
     "/kubepods/besteffort/pod" + S(kUid) + "/crio-" + kId,
     {R::kCrio, kId, kUid, "besteffort"}},
    // crun (CRI-O, cgroup v2, systemd) runs the process in a child "container".
    {"crio_systemd_crun_child",
     "/kubepods.slice/kubepods-pod" + S(kUidSystemd) + ".slice/crio-" + kId + ".scope/container",
     {R::kCrio, kId, kUid, "guaranteed"}},
    // Docker: standalone (systemd and cgroupfs) and the kubelet's dockershim.
    {"docker_systemd_standalone",
     "/system.slice/docker-" + S(kId) + ".scope",
     {R::kDocker, kId, "", ""}},
    {"docker_cgroupfs_standalone", "/docker/" + S(kId), {R::kDocker, kId, "", ""}},
    {"dockershim_systemd",
     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + S(kUidSystemd) +
         ".slice/docker-" + kId + ".scope",
     {R::kDocker, kId, kUid, "besteffort"}},
    // Processes in a sub-cgroup of the container (systemd in a container,
    // a workload managing its own cgroups) are the container's.
    {"nested_below_container",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + S(kUidSystemd) +
         ".slice/cri-containerd-" + kId + ".scope/init.scope/worker",
     {R::kContainerd, kId, kUid, "burstable"}},
    {"nested_cgroupfs_docker_in_pod",
     "/kubepods/burstable/pod" + S(kUid) + "/" + kId + "/docker/" + kId2,
     {R::kAmbiguous, kId, kUid, "burstable"}},
    // A kubelet inside a container (kind): the innermost pod is the node's.
    {"kind_node",
     "/system.slice/docker-" + S(kId2) +
         ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
         "kubelet-kubepods-besteffort-pod" +
         kUidSystemd + ".slice/cri-containerd-" + kId + ".scope",
     {R::kContainerd, kId, kUid, "besteffort"}},
    // The pause (sandbox) container has an id like any other; its state file
    // says it is the sandbox (runtime_state_test.cc).
    {"sandbox_path_is_a_container",
     "/kubepods.slice/kubepods-pod" + S(kUidSystemd) + ".slice/cri-containerd-" + kId2 + ".scope",
     {R::kContainerd, kId2, kUid, "guaranteed"}},
    // Seen from inside a cgroup namespace: the path starts anywhere.
    {"cgroup_namespace_relative",
     "/../../kubepods-burstable-pod" + S(kUidSystemd) + ".slice/cri-containerd-" + kId + ".scope",
     {R::kContainerd, kId, kUid, "burstable"}},
    {"cgroup_namespace_container_only",
     "/cri-containerd-" + S(kId) + ".scope",
     {R::kContainerd, kId, "", ""}},
    // Pod-level cgroup: a pod, no container.
    {"pod_level", "/kubepods/burstable/pod" + S(kUid), {R::kNone, "", kUid, "burstable"}},
    // Host processes.
    {"root", "/", {}},
    {"empty", "", {}},
    {"host_service", "/system.slice/sshd.service", {}},
    {"host_user", "/user.slice/user-0.slice/session-3.scope", {}},
    {"kubelet_itself", "/system.slice/kubelet.service", {}},
    {"containerd_itself", "/system.slice/containerd.service", {}},
    {"kubepods_slice", "/kubepods.slice/kubepods-burstable.slice", {}},
    // Malformed: wrong id length or case, wrong uid shape, a slice without kubepods.
    {"short_id", "/kubepods/pod" + S(kUid) + "/crio-0123abcd", {R::kNone, "", kUid, "guaranteed"}},
    {"upper_case_id",
     "/docker/4F1D9E3C0A2B7C6D5E8F9A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8B9C0D",
     {}},
    {"id_too_long", "/docker/" + S(kId) + "0", {}},
    {"uid_with_dashes_in_slice",
     "/kubepods.slice/kubepods-pod" + S(kUid) + ".slice/cri-containerd-" + kId + ".scope",
     {R::kContainerd, kId, "", ""}},
    {"pod_slice_outside_kubepods", "/system.slice/foo-pod" + S(kUidSystemd) + ".slice", {}},
    {"unknown_prefix",
     "/kubepods/pod" + S(kUid) + "/runc-" + kId,
     {R::kNone, "", kUid, "guaranteed"}},
};

class CgroupPathTest : public ::testing::TestWithParam<PathCase> {};

TEST_P(CgroupPathTest, Parses) {
  const PathCase& c = GetParam();
  CgroupRef got = ParseCgroupPath(c.path);
  EXPECT_EQ(static_cast<int>(got.runtime), static_cast<int>(c.want.runtime)) << c.path;
  EXPECT_EQ(got.container_id, c.want.container_id) << c.path;
  EXPECT_EQ(got.pod_uid, c.want.pod_uid) << c.path;
  EXPECT_EQ(got.qos, c.want.qos) << c.path;
  EXPECT_EQ(got.conmon, c.want.conmon) << c.path;
}

INSTANTIATE_TEST_SUITE_P(RealWorldPaths, CgroupPathTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<PathCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace diskidle
