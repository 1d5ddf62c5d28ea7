#include "catalogue.hpp"
#include "output.hpp"

#include <iostream>

namespace tracker::cli {

namespace {

struct DoctorOptions {
  bool dry_run = false;
};

int run_doctor(const DoctorOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  DoctorReport report = tracker->doctor(opts.dry_run);
  int code = report.warnings.empty() ? 0 : static_cast<int>(ExitCode::error);
  if (g.json) {
    auto findings = nlohmann::ordered_json::array();
    for (const auto& f : report.findings)
      findings.push_back(
          {{"kind", f.kind}, {"path", f.path}, {"detail", f.detail}, {"action", f.action}, {"repaired", f.repaired}});
    print_json({{"dry_run", opts.dry_run},
                {"findings", findings},
                {"warnings", report.warnings},
                {"commit", string_or_null(report.commit)}});
    return code;
  }
  Style style = make_style(g);
  for (const auto& f : report.findings)
    std::cout << paint(style, f.path + ":", "1") << " " << f.kind << ": " << f.detail << "; " << f.action << "\n";
  for (const auto& w : report.warnings) std::cerr << "tracker: " << w << "\n";
  std::size_t repaired = 0;
  for (const auto& f : report.findings) repaired += f.repaired;
  if (report.findings.empty())
    std::cerr << "doctor: nothing to repair\n";
  else if (opts.dry_run)
    std::cerr << "doctor: " << report.findings.size() << " found; nothing was changed (--dry-run)\n";
  else
    std::cerr << "doctor: " << report.findings.size() << " found, " << repaired << " repaired\n";
  return code;
}

}  // namespace

Command register_doctor(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<DoctorOptions>();
  const auto& op = catalogue::operation("doctor");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "dry_run", opts->dry_run);
  return {sub, [opts, &g] { return run_doctor(*opts, g); }};
}

}  // namespace tracker::cli
