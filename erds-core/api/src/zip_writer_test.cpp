#include "zip_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace erds::api::internal {
namespace {

TEST(Zip, Crc32CheckValue) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);  // the standard check value
  EXPECT_EQ(crc32(""), 0u);
}

TEST(Zip, StructureAndNames) {
  ZipWriter z(TimePoint(std::chrono::seconds(1795773600)));
  ASSERT_TRUE(z.add("01-a.xml", "<a/>").has_value());
  ASSERT_TRUE(z.add("README.txt", "hello\n").has_value());
  EXPECT_FALSE(z.add("../x", "").has_value());
  EXPECT_FALSE(z.add("/abs", "").has_value());
  EXPECT_FALSE(z.add("", "").has_value());
  const std::string zip = z.finish();
  EXPECT_EQ(zip.substr(0, 4), std::string("PK\x03\x04", 4));
  const std::string eocd = zip.substr(zip.size() - 22);
  EXPECT_EQ(eocd.substr(0, 4), std::string("PK\x05\x06", 4));
  EXPECT_EQ(static_cast<unsigned char>(eocd[10]), 2u);  // entries
}

// An independent reader: Python's zipfile (always present with the build tools) extracts and
// checks every CRC.
TEST(Zip, ReadableByPythonZipfile) {
  if (std::system("python3 -c 'import zipfile' >/dev/null 2>&1") != 0) GTEST_FAIL() << "python3 is required";
  ZipWriter z(TimePoint(std::chrono::seconds(1795773600)));
  ASSERT_TRUE(z.add("01-SubmissionAcceptance-x.xml", "<tns:Evidence/>").has_value());
  ASSERT_TRUE(z.add("README.txt", std::string(100000, 'r')).has_value());
  const auto path = std::filesystem::temp_directory_path() / ("erds-zip-" + std::to_string(::getpid()) + ".zip");
  std::ofstream(path, std::ios::binary) << z.finish();
  const std::string cmd = "python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); "
                          "assert z.testzip() is None; assert z.read('README.txt')==b'r'*100000; "
                          "assert z.namelist()==['01-SubmissionAcceptance-x.xml','README.txt']\" " +
                          path.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace erds::api::internal
