// JUnit XML through pugixml: counts, required attributes, and hostile text (quotes, markup, control
// characters) that must come back as written (control characters as spaces).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pugixml.hpp>

#include <iterator>

#include "symbreak/junit.hpp"

namespace symbreak {
namespace {

TEST(Junit, CountsOutcomesAndKeepsHostileTextIntact) {
  junit::TestSuite suite;
  suite.name = "suite \"<&>\"";
  const std::string hostile = "a < b && c > \"d\" 'e' ]]> \x01\x1f end\nline two";
  suite.cases.push_back({"pass", "k", 0.5, junit::Outcome::passed, "", "", "", "ran 3"});
  suite.cases.push_back({"fail", "k", 1.25, junit::Outcome::failure, hostile, "FAIL", hostile + "\nreplay: x", ""});
  suite.cases.push_back({"err", "k", 0, junit::Outcome::error, "boom", "ERROR", "boom", ""});
  suite.cases.push_back({"skip", "k", 0, junit::Outcome::skipped, "n/a", "", "", ""});
  const std::string xml = junit::document("symbreak test", suite);
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_string(xml.c_str());
  ASSERT_TRUE(parsed) << parsed.description() << "\n" << xml;
  const pugi::xml_node root = doc.document_element();
  EXPECT_STREQ(root.name(), "testsuites");
  EXPECT_EQ(root.attribute("tests").as_int(), 4);
  const pugi::xml_node s = root.child("testsuite");
  EXPECT_EQ(std::string(s.attribute("name").value()), suite.name);
  EXPECT_EQ(s.attribute("failures").as_int(), 1);
  EXPECT_EQ(s.attribute("errors").as_int(), 1);
  EXPECT_EQ(s.attribute("skipped").as_int(), 1);
  EXPECT_DOUBLE_EQ(s.attribute("time").as_double(), 1.75);
  for (const char* a : {"timestamp", "hostname"}) EXPECT_TRUE(s.attribute(a)) << a;
  const auto cases = s.children("testcase");
  ASSERT_EQ(std::distance(cases.begin(), cases.end()), 4);
  const pugi::xml_node failure = s.find_child_by_attribute("testcase", "name", "fail").child("failure");
  const std::string printable = "a < b && c > \"d\" 'e' ]]>    end\nline two";
  EXPECT_EQ(std::string(failure.attribute("message").value()).substr(0, 30), printable.substr(0, 30));
  EXPECT_EQ(std::string(failure.text().get()), printable + "\nreplay: x");
  EXPECT_THAT(xml, ::testing::Not(::testing::HasSubstr("\x01")));
  EXPECT_TRUE(s.find_child_by_attribute("testcase", "name", "skip").child("skipped"));
  EXPECT_TRUE(s.find_child_by_attribute("testcase", "name", "err").child("error"));
  EXPECT_EQ(std::string(s.find_child_by_attribute("testcase", "name", "pass").child("system-out").text().get()), "ran 3");
}

}  // namespace
}  // namespace symbreak
