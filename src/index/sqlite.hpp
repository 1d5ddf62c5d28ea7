// Thin RAII wrapper over SQLite (private to the library).
#pragma once

#include <sqlite3.h>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <tracker/error.hpp>

namespace tracker::sql {

/// A SQLite failure; `corrupt()` tells a damaged database file from other errors.
class SqlError : public IoError {
 public:
  SqlError(int rc, const std::string& message) : IoError(message), rc_(rc) {}
  int rc() const { return rc_; }
  bool corrupt() const { return (rc_ & 0xff) == SQLITE_CORRUPT || (rc_ & 0xff) == SQLITE_NOTADB; }
  bool busy() const { return (rc_ & 0xff) == SQLITE_BUSY || (rc_ & 0xff) == SQLITE_LOCKED; }

 private:
  int rc_;
};

/// Throws SqlError unless rc is SQLITE_OK / ROW / DONE.
void check(sqlite3* db, int rc, std::string_view context);

class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql);
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(int index, std::int64_t value);
  Stmt& bind(int index, std::string_view value);
  Stmt& bind_blob(int index, std::string_view value);
  Stmt& bind_null(int index);
  Stmt& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Stmt& bind(int index, const char* value) { return bind(index, std::string_view(value)); }

  /// Steps once: true when a row is available.
  bool step();
  /// Steps until done (for statements that return no rows).
  void run();
  void reset();

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string text(int col) const;
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  /// The column's text without copying it; valid until the next step() or reset().
  std::string_view view(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string_view(reinterpret_cast<const char*>(p),
                                static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Db {
 public:
  /// Opens (creating) the database file.
  explicit Db(const std::string& path);
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  void exec(std::string_view sql);
  Stmt prepare(std::string_view sql) { return Stmt(db_, sql); }
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

/// BEGIN IMMEDIATE in the constructor; rolls back in the destructor unless committed.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    db_.exec("COMMIT");
    done_ = true;
  }

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace tracker::sql
