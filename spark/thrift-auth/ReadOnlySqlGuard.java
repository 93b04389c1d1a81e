package io.lakehouse.thrift;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import org.apache.spark.QueryContext;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.parser.ParserInterface;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

import scala.Option;
import scala.Tuple3;
import scala.collection.immutable.Map$;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;
import scala.runtime.AbstractFunction2;
import scala.runtime.BoxedUnit;

/**
 * Makes every session of the Spark Thrift Server read-only. The server serves SQL to
 * analysts (Superset) and the quality tools (DQOps); nothing it serves may write a table,
 * read a file by path, read another database, read credentials or run code.
 *
 * Spark has no SQL authorization of its own, so this wraps the SQL parser (registered in
 * spark.sql.extensions after Delta's, for the Thrift server only) and judges the plan of
 * every statement a client sends, as parsed: before anything resolves or runs. It judges
 * client SQL only: the plans Spark and Delta build internally (reading a table's Delta log
 * by path, say) never pass through the parser. A statement is refused when it holds
 * - a command other than USE, SHOW, DESCRIBE (DESCRIBE HISTORY of a table by name) and
 *   EXPLAIN: no DDL, DML, SET, RESET, CACHE, ADD JAR, LOAD DATA, CREATE FUNCTION;
 * - a table other than one of the lakehouse's databases (spark.lakehouse.readonly.databases),
 *   which rules out files and Delta tables by path (text.`file:/...`, delta.`s3a://...`);
 * - a table-valued function other than range, table_changes and the generators;
 * - reflect/java_method/try_reflect (static Java calls: System.getenv would show the
 *   server's credentials), TRANSFORM ... USING (shell commands on the executors), an
 *   IDENTIFIER(...) clause, EXECUTE IMMEDIATE or a SQL script (names and SQL computed at run
 *   time, out of this check's sight);
 * or when the session's settings differ from the server's on a storage, metastore, catalog,
 * SQL-on-files or variable-substitution key (a client can pass settings when it opens a
 * session; Spark applies them without a statement), or SQL on files or ${...} substitution
 * (${env:...} would expand to the server's environment) is on.
 */
public final class ReadOnlySqlGuard extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
  /** Commands that only read the catalog's metadata (parsed plan class names). */
  static final Set<String> ALLOWED_COMMANDS = new HashSet<>(Arrays.asList(
      "SetCatalogAndNamespace", "ShowNamespaces", "ShowNamespacesCommand", "ShowCatalogsCommand",
      "ShowCurrentNamespaceCommand", "ShowTables", "ShowTablesExtended", "ShowViews", "DescribeRelation",
      "DescribeColumn", "ShowColumns", "ShowTableProperties", "DescribeNamespace", "ShowFunctions",
      "DescribeFunction", "ShowPartitions", "ShowCreateTable", "ExplainCommand"));
  /** Plans and expressions whose effect this check cannot see or that run code. */
  static final Set<String> REFUSED = new HashSet<>(Arrays.asList(
      "ScriptTransformation", "PlanWithUnresolvedIdentifier", "ExpressionWithUnresolvedIdentifier",
      "UnresolvedExecuteImmediate", "CompoundBody", "UnresolvedPathBasedDeltaTable",
      "UnresolvedPathBasedTable", "UnresolvedPathBasedDeltaTableRelation", "Call"));
  /** Commands whose namespace must be one of the lakehouse's databases (USE may name any:
   * clients open sessions in `default`; what they then read is checked by name). */
  static final Set<String> NAMESPACE_COMMANDS = new HashSet<>(Arrays.asList(
      "ShowTables", "ShowTablesExtended", "ShowViews", "DescribeNamespace"));
  static final Set<String> REFUSED_FUNCTIONS = new HashSet<>(Arrays.asList(
      "reflect", "java_method", "try_reflect"));
  static final Set<String> ALLOWED_TABLE_FUNCTIONS = new HashSet<>(Arrays.asList(
      "range", "table_changes", "explode", "explode_outer", "inline", "inline_outer", "posexplode",
      "posexplode_outer", "stack", "json_tuple"));
  /** Settings a session may not change from the server's. */
  static final Pattern GUARDED_SETTING = Pattern.compile(
      "(?i)^(spark\\.hadoop\\.|fs\\.|hive\\.metastore|javax\\.jdo\\.|datanucleus\\.|spark\\.sql\\.catalog|"
          + "spark\\.sql\\.extensions|spark\\.sql\\.warehouse|spark\\.sql\\.runSQLOnFiles|"
          + "spark\\.sql\\.variable\\.substitute|spark\\.sql\\.scripting|spark\\.sql\\.legacy\\.|"
          + "spark\\.lakehouse\\.)|secret|password|credential|token|access\\.key");
  static final String DATABASES_SETTING = "spark.lakehouse.readonly.databases";
  static final String SESSION_CATALOG = "spark_catalog";

  @Override
  public BoxedUnit apply(SparkSessionExtensions extensions) {
    extensions.injectParser(new AbstractFunction2<SparkSession, ParserInterface, ParserInterface>() {
      @Override
      public ParserInterface apply(SparkSession session, ParserInterface delegate) {
        return new GuardedParser(new Judge(session), delegate);
      }
    });
    return BoxedUnit.UNIT;
  }

  /** Judges one parsed statement against the rules above; throws when it is refused. */
  static final class Judge {
    private final SparkSession session;

    Judge(SparkSession session) {
      this.session = session;
    }

    LogicalPlan judge(LogicalPlan plan) {
      checkSettings();
      walk(plan, true, Set.of());
      return plan;
    }

    private void checkSettings() {
      for (Map.Entry<String, String> e : CollectionConverters.asJava(session.conf().getAll()).entrySet()) {
        Option<String> server = session.sparkContext().getConf().getOption(e.getKey());
        boolean same = server.isDefined() && server.get().equals(e.getValue());
        if (GUARDED_SETTING.matcher(e.getKey()).find() && !same) {
          throw refused("this session changed the setting " + e.getKey());
        }
      }
      if (!"false".equals(session.conf().get("spark.sql.runSQLOnFiles", "true"))
          || !"false".equals(session.conf().get("spark.sql.variable.substitute", "true"))) {
        throw refused("SQL on files or variable substitution is on");
      }
    }

    /** Judges `node` and everything under it. `cteNames`: the common table expressions in scope
     * (a one-part name among them is not a table), which a WITH adds for what it encloses. */
    private void walk(LogicalPlan node, boolean root, Set<String> cteNames) {
      String kind = name(node);
      if (REFUSED.contains(kind)) {
        throw refused(kind + " is not allowed");
      }
      if (writes(node) && !(root && ALLOWED_COMMANDS.contains(kind))) {
        throw refused(kind + " changes data or settings, or reads more than the catalog");
      }
      if (kind.equals("UnresolvedWith")) {
        cteNames = withCteNames(node, cteNames);
      }
      if (NAMESPACE_COMMANDS.contains(kind)) {
        checkNamespace((LogicalPlan) invoke(node, "namespace"));
      }
      checkNames(node, kind, cteNames);
      for (Expression e : CollectionConverters.asJava(node.expressions())) {
        e.foreach(new AbstractFunction1<Expression, BoxedUnit>() {
          @Override
          public BoxedUnit apply(Expression x) {
            String what = name(x);
            if (REFUSED.contains(what)) {
              throw refused(what + " is not allowed");
            }
            if (what.equals("UnresolvedFunction") && REFUSED_FUNCTIONS.contains(last(seq(invoke(x, "nameParts"))))) {
              throw refused("reflect/java_method call Java methods");
            }
            return BoxedUnit.UNIT;
          }
        });
      }
      for (LogicalPlan child : CollectionConverters.asJava(node.children())) {
        walk(child, false, cteNames);
      }
      for (Object inner : CollectionConverters.asJava(node.innerChildren())) {
        if (inner instanceof LogicalPlan) {
          walk((LogicalPlan) inner, false, cteNames);
        }
      }
      for (LogicalPlan subquery : CollectionConverters.asJava(node.subqueries())) {
        walk(subquery, false, cteNames);
      }
      if (kind.equals("RelationTimeTravel") || kind.equals("TimeTravel")) {  // Spark's, Delta's
        walk((LogicalPlan) invoke(node, "relation"), false, cteNames);
      } else if (kind.equals("ExplainCommand")) {
        walk((LogicalPlan) invoke(node, "logicalPlan"), true, cteNames);
      }
    }

    /** The tables a statement names must be tables of the lakehouse's databases. */
    private void checkNames(LogicalPlan node, String kind, Set<String> cteNames) {
      if (kind.equals("UnresolvedRelation")) {
        List<String> parts = seq(invoke(node, "multipartIdentifier"));
        if (!(parts.size() == 1 && cteNames.contains(lower(parts.get(0))))) {
          requireLakehouseTable(parts);
        }
        if (!((java.util.Map<?, ?>) invoke(node, "options")).isEmpty()) {
          throw refused("options on a table (WITH (...)) could reconfigure its storage");
        }
      } else if (kind.equals("UnresolvedTableOrView") || kind.equals("UnresolvedTable")
          || kind.equals("UnresolvedView")) {
        requireLakehouseTable(seq(invoke(node, "multipartIdentifier")));
      } else if (kind.equals("UnresolvedTableValuedFunction")) {
        String function = lower(last(seq(invoke(node, "name"))));
        if (!ALLOWED_TABLE_FUNCTIONS.contains(function)) {
          throw refused("the table function " + function + " is not allowed");
        }
        if (function.equals("table_changes")) {
          List<Expression> args = CollectionConverters.asJava(
              (scala.collection.immutable.Seq<Expression>) invoke(node, "functionArgs"));
          Object table = args.isEmpty() || !args.get(0).foldable() ? null : args.get(0).eval(null);
          if (table == null) {
            throw refused("table_changes needs a table name");
          }
          requireLakehouseTable(Arrays.asList(table.toString().replace("`", "").split("\\.")));
        }
      }
    }

    private void requireLakehouseTable(List<String> parts) {
      String database;
      if (parts.size() == 1) {
        database = session.catalog().currentDatabase();
      } else if (parts.size() == 2) {
        database = parts.get(0);
      } else if (parts.size() == 3 && lower(parts.get(0)).equals(SESSION_CATALOG)) {
        database = parts.get(1);
      } else {
        throw refused("reading " + String.join(".", parts));
      }
      requireDatabase(database, "reading " + String.join(".", parts));
    }

    /** SHOW TABLES/VIEWS and DESCRIBE of a namespace: the lakehouse's databases only. */
    private void checkNamespace(LogicalPlan namespace) {
      List<String> parts = name(namespace).equals("UnresolvedNamespace")
          ? seq(invoke(namespace, "multipartIdentifier")) : List.of();
      String database = parts.isEmpty() ? session.catalog().currentDatabase() : parts.get(parts.size() - 1);
      if (parts.size() > 2 || (parts.size() == 2 && !lower(parts.get(0)).equals(SESSION_CATALOG))) {
        throw refused("listing " + String.join(".", parts));
      }
      requireDatabase(database, "listing " + database);
    }

    private void requireDatabase(String database, String what) {
      String allowed = session.sparkContext().getConf().get(DATABASES_SETTING, "");
      for (String db : allowed.split(",")) {
        if (!db.isBlank() && db.trim().equalsIgnoreCase(database)) {
          return;
        }
      }
      throw refused(what + ": only the databases " + allowed);
    }

    /** The CTE names in scope inside a WITH: those around it and its own. */
    private static Set<String> withCteNames(LogicalPlan with, Set<String> outer) {
      Set<String> names = new HashSet<>(outer);
      for (Object cte : CollectionConverters.asJava((scala.collection.immutable.Seq<?>) invoke(with, "cteRelations"))) {
        names.add(lower((String) ((Tuple3<?, ?, ?>) cte)._1()));
      }
      return names;
    }
  }

  /** Parsed plans that write or change something: commands, INSERT (a parsed statement, not a
   * Command), CREATE/REPLACE TABLE AS SELECT and INSERT OVERWRITE DIRECTORY (plans of their own);
   * and by name every parsed "...Statement" (Spark's and Delta's: RESTORE, CLONE are plain nodes). */
  static final Set<String> WRITING_TYPES = new HashSet<>(Arrays.asList(
      "Command", "ParsedStatement", "V2CreateTablePlan", "V2CreateTableAsSelectPlan", "V2WriteCommand",
      "CTEInChildren", "InsertIntoDir"));

  static boolean writes(LogicalPlan node) {
    if (node instanceof Command || name(node).endsWith("Statement")) {
      return true;
    }
    for (Class<?> c = node.getClass(); c != null; c = c.getSuperclass()) {
      if (WRITING_TYPES.contains(c.getSimpleName()) || implementsWriting(c)) {
        return true;
      }
    }
    return false;
  }

  private static boolean implementsWriting(Class<?> type) {
    for (Class<?> i : type.getInterfaces()) {
      if (WRITING_TYPES.contains(i.getSimpleName()) || implementsWriting(i)) {
        return true;
      }
    }
    return false;
  }

  static String name(Object o) {
    return o.getClass().getSimpleName().replace("$", "");
  }

  static String lower(String s) {
    return s.toLowerCase(Locale.ROOT);
  }

  @SuppressWarnings("unchecked")
  static List<String> seq(Object scalaSeq) {
    return CollectionConverters.asJava((scala.collection.immutable.Seq<String>) scalaSeq);
  }

  static String last(List<String> parts) {
    return parts.isEmpty() ? "" : lower(parts.get(parts.size() - 1));
  }

  static Object invoke(Object target, String method) {
    try {
      return target.getClass().getMethod(method).invoke(target);
    } catch (ReflectiveOperationException e) {
      throw refused("cannot inspect " + name(target));
    }
  }

  /** An AnalysisException, which Spark hands the client as it is; thrown unchecked, as Scala does. */
  static RuntimeException refused(String why) {
    String message = "read-only: " + why + "; this server serves SELECT, SHOW, DESCRIBE and USE on the "
        + "lakehouse's tables only";
    throw ReadOnlySqlGuard.<RuntimeException>unchecked(new AnalysisException(message, Option.empty(),
        Option.empty(), Option.empty(), Option.empty(), Map$.MODULE$.empty(), new QueryContext[0]));
  }

  @SuppressWarnings("unchecked")
  private static <T extends Throwable> T unchecked(Throwable t) throws T {
    throw (T) t;
  }
}
