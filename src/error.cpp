#include <tracker/error.hpp>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

namespace tracker {

namespace {

// A reference is kept in the message between these two bytes, which no message
// text holds: "\x01p name\x1fvalue\x02" for a parameter, "\x01o operation
// \x1fname\x1evalue..." for an operation.
constexpr char kOpen = '\x01', kClose = '\x02', kPart = '\x1f', kArg = '\x1e';

std::vector<std::string_view> split_on(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0;;) {
    std::size_t end = text.find(sep, start);
    out.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

bool is_number(std::string_view v) {
  return !v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos;
}

/// A value as JSON writes it: numbers and true/false bare, text quoted (a quote or
/// a backslash in it escaped).
std::string json_value(std::string_view v) {
  if (is_number(v) || v == "true" || v == "false") return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string spell_param(std::string_view name, std::string_view value, Door door) {
  if (door == Door::cli) return "--" + std::string(name) + (value.empty() || value == "true" ? "" : " " + std::string(value));
  return std::string(name) + (value.empty() ? "" : ": " + json_value(value));
}

/// Operations that are one MCP tool's mode rather than a tool of their own.
std::pair<std::string_view, std::string_view> tool_of(std::string_view operation) {
  if (operation == "unlink") return {"link", "remove"};
  return {operation, {}};
}

std::string spell_op(std::string_view body, Door door) {
  std::vector<std::string_view> parts = split_on(body, kPart);
  std::string_view operation = parts[0];
  std::vector<std::pair<std::string_view, std::string_view>> args;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    auto kv = split_on(parts[i], kArg);
    args.emplace_back(kv[0], kv.size() > 1 ? kv[1] : std::string_view());
  }
  if (door == Door::cli) {
    std::string out = "'tracker " + std::string(operation);
    for (const auto& [name, value] : args) out += " " + std::string(value);
    return out + "'";
  }
  auto [tool, mode] = tool_of(operation);
  std::string out = std::string(tool);
  std::string with;
  for (const auto& [name, value] : args) with += (with.empty() ? "" : ", ") + std::string(name) + ": " + json_value(value);
  if (!mode.empty()) with += (with.empty() ? "" : ", ") + std::string(mode) + ": true";
  return with.empty() ? out : out + " with " + with;
}

}  // namespace

std::string param_ref(std::string_view name, std::string_view value) {
  std::string out(1, kOpen);
  out += 'p';
  out += name;
  if (!value.empty()) (out += kPart) += value;
  return out + kClose;
}

std::string op_ref(std::string_view operation, const std::vector<std::pair<std::string, std::string>>& args) {
  std::string out(1, kOpen);
  out += 'o';
  out += operation;
  for (const auto& [name, value] : args) {
    out += kPart;
    (out += name) += kArg;
    out += value;
  }
  return out + kClose;
}

std::string for_door(std::string_view message, Door door) {
  std::string out;
  out.reserve(message.size());
  for (std::size_t at = 0; at < message.size();) {
    std::size_t open = message.find(kOpen, at);
    std::size_t close = open == std::string_view::npos ? open : message.find(kClose, open);
    if (close == std::string_view::npos || close == open + 1) {
      out.append(message.substr(at));
      break;
    }
    out.append(message.substr(at, open - at));
    std::string_view body = message.substr(open + 2, close - open - 2);
    if (message[open + 1] == 'o') {
      out += spell_op(body, door);
    } else {
      auto nv = split_on(body, kPart);
      out += spell_param(nv[0], nv.size() > 1 ? nv[1] : std::string_view(), door);
    }
    at = close + 1;
  }
  return out;
}

void throw_errno(const std::string& context) {
  throw IoError(context + ": " + std::strerror(errno));
}

}  // namespace tracker
